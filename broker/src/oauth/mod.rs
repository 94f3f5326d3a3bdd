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
pub use limits::{AuthorizeLimits, ClientAuthLimits};
pub use pages::{Page, words as page_words};
pub use params::Params;
pub use token::{TokenGrant, parse_token_request};

use actix_web::http::Method;
use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::config::OAuthSettings;
use crate::routes::{Audience, RouteSpec};

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

/// The routes of `/oauth/*`.
pub fn routes() -> [RouteSpec; 4] {
    [
        RouteSpec::new(Method::GET, "/oauth/authorize", Audience::Public, || {
            web::get().to(authorize::authorize)
        }),
        RouteSpec::new(
            Method::GET,
            "/oauth/spotify/callback",
            Audience::Public,
            || web::get().to(callback::spotify_callback),
        ),
        RouteSpec::new(Method::POST, "/oauth/token", Audience::Public, || {
            web::post().to(token::token)
        }),
        RouteSpec::new(Method::POST, "/oauth/revoke", Audience::Public, || {
            web::post().to(revoke::revoke)
        }),
    ]
}

/// The endpoints whose errors are RFC 6749 JSON (`{"error", "error_description"}`); the browser leg
/// answers with pages and redirects.
pub const RFC6749_JSON_PATHS: [&str; 2] = ["/oauth/token", "/oauth/revoke"];

/// Whether errors at `path` are RFC 6749 JSON.
pub fn answers_rfc6749_json(path: &str) -> bool {
    RFC6749_JSON_PATHS.contains(&path)
}

/// Alexa's authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: the handler parses the query strictly itself
pub struct AuthorizeQuery {
    /// Must be `code`.
    response_type: String,
    /// `alexa.client_id`.
    client_id: String,
    /// Exactly one of `alexa.redirect_uris`.
    redirect_uri: String,
    /// Alexa's state, returned unchanged (at most 2048 bytes).
    state: Option<String>,
    /// Informational (at most 1024 bytes); the Spotify scopes come from `spotify.scopes`.
    scope: Option<String>,
    /// PKCE S256 challenge.
    code_challenge: Option<String>,
    /// `S256` (`plain` is refused).
    code_challenge_method: Option<String>,
}

/// Spotify's redirect back after consent.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: the handler parses the query strictly itself
pub struct CallbackQuery {
    /// The broker's own state sent to Spotify.
    state: Option<String>,
    /// Spotify's authorization code.
    code: Option<String>,
    /// Spotify's error (`access_denied`, …).
    error: Option<String>,
}

/// The token request (form-encoded). Client authentication is HTTP Basic (`client_basic`) or
/// `client_id` and `client_secret` here (client_secret_post), never both.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: the handler parses the form strictly itself
pub struct TokenForm {
    grant_type: GrantType,
    /// `authorization_code`: the one-time code.
    code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request.
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier, when the request had a challenge.
    code_verifier: Option<String>,
    /// `refresh_token`: a broker refresh token (`brt_…`).
    refresh_token: Option<String>,
    /// client_secret_post: the client id.
    client_id: Option<String>,
    /// client_secret_post: the client secret.
    client_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // documentation only
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

/// The revocation request (RFC 7009, form-encoded), with the token endpoint's client authentication.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // documentation only: the handler parses the form strictly itself
pub struct RevokeForm {
    /// A broker access or refresh token.
    token: String,
    /// Ignored: the broker recognizes its tokens by their prefix.
    token_type_hint: Option<String>,
    /// client_secret_post: the client id.
    client_id: Option<String>,
    /// client_secret_post: the client secret.
    client_secret: Option<String>,
}

/// The OAuth part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        authorize::authorize,
        callback::spotify_callback,
        token::token,
        revoke::revoke
    ),
    components(schemas(TokenForm, GrantType, RevokeForm, token::TokenResponse))
)]
pub struct ApiDoc;
