//! The OAuth 2.0 authorization server Alexa's account-linking settings point at.

mod authorize;
mod browser;
mod callback;
mod client_auth;
mod error;
mod limits;
mod pages;
mod params;
mod revoke;
mod token;

pub use browser::{BrowserCookie, COOKIE_NAME, SECURE_COOKIE_NAME};
pub use error::OAuthError;
pub use limits::AuthorizeLimits;
pub use pages::{Page, words as page_words};

use actix_web::web;

use crate::config::OAuthSettings;

/// What guards the browser leg of linking: the binding cookie and the caps on `/oauth/authorize`.
#[derive(Debug)]
pub struct LinkingGuard {
    pub cookie: BrowserCookie,
    pub limits: AuthorizeLimits,
}

impl LinkingGuard {
    pub fn new(settings: &OAuthSettings, public_url: Option<&url::Url>) -> Self {
        Self {
            cookie: BrowserCookie::new(public_url, settings.pending_authorization_ttl_s),
            limits: AuthorizeLimits::new(settings),
        }
    }
}

/// Mounts `/oauth/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/oauth")
            .route("/authorize", web::get().to(authorize::authorize))
            .route(
                "/spotify/callback",
                web::get().to(callback::spotify_callback),
            )
            .route("/token", web::post().to(token::token))
            .route("/revoke", web::post().to(revoke::revoke)),
    );
}
