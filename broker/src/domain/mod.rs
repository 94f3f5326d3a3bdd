//! Validated domain values: past the route layer no raw string travels where one of these belongs.

mod admin_id;
mod alexa_user_id;
mod client_id;
mod grant_id;
mod key_id;
mod link_id;
mod pkce;
mod redirect_uri;
mod secret_token;
mod spotify_user_id;
mod time;

pub use admin_id::AdminId;
pub use alexa_user_id::AlexaUserId;
pub use client_id::ClientId;
pub use grant_id::GrantId;
pub use key_id::KeyId;
pub use link_id::LinkId;
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::RedirectUri;
pub use secret_token::{
    AuthorizationCode, BrokerAccessToken, BrokerRefreshToken, BrowserBinding, OAuthState, TokenHash,
};
pub use spotify_user_id::SpotifyUserId;
pub use time::UnixTime;

/// Why a value was refused at the edge; the message names what was wrong, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub &'static str);
