//! The HTTP surface: accounts service, Web API, control API, and what wraps them.

pub mod accounts;
pub mod api;
pub mod control;
pub mod fault;
pub mod middleware;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::error::SandboxError;

async fn not_found() -> Result<HttpResponse, SandboxError> {
    Err(SandboxError::not_found("Service not found"))
}

async fn method_not_allowed() -> Result<HttpResponse, SandboxError> {
    Err(SandboxError::api(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
    ))
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Registers every route; unknown paths answer Spotify's 404 "Service not found".
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| SandboxError::bad_request(err.to_string()).into()),
    )
    .service(resource("/authorize").route(web::get().to(accounts::authorize::authorize)))
    .service(resource("/api/token").route(web::post().to(accounts::token::token)))
    .service(resource("/v1/me").route(web::get().to(api::me::me)))
    .service(
        resource("/v1/me/player")
            .route(web::get().to(api::player::state))
            .route(web::put().to(api::player::transfer)),
    )
    .service(
        resource("/v1/me/player/currently-playing")
            .route(web::get().to(api::player::currently_playing)),
    )
    .service(resource("/v1/me/player/devices").route(web::get().to(api::player::devices)))
    .service(resource("/v1/me/player/play").route(web::put().to(api::player::play)))
    .service(resource("/v1/me/player/pause").route(web::put().to(api::player::pause)))
    .service(resource("/v1/me/player/next").route(web::post().to(api::player::next)))
    .service(resource("/v1/me/player/previous").route(web::post().to(api::player::previous)))
    .service(resource("/v1/me/player/volume").route(web::put().to(api::player::volume)))
    .service(resource("/v1/me/player/shuffle").route(web::put().to(api::player::shuffle)))
    .service(resource("/v1/me/player/repeat").route(web::put().to(api::player::repeat)))
    .service(resource("/v1/me/player/queue").route(web::post().to(api::player::queue)))
    .service(
        resource("/v1/playlists/{playlist_id}/items")
            .route(web::get().to(api::playlists::playlist_items)),
    )
    .service(
        resource("/v1/playlists/{playlist_id}/tracks")
            .route(web::get().to(api::playlists::playlist_tracks)),
    )
    .service(resource("/v1/me/playlists").route(web::get().to(api::playlists::my_playlists)))
    .service(resource("/v1/search").route(web::get().to(api::search::search)))
    .configure(control::configure)
    .default_service(web::to(not_found));
}
