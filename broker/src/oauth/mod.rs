//! The OAuth 2.0 authorization server Alexa's account-linking settings point at.

mod authorize;
mod callback;
mod client_auth;
mod error;
mod params;
mod revoke;
mod token;

pub use error::OAuthError;

use actix_web::web;

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
