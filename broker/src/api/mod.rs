//! The internal API the skill calls: Spotify through the broker, and the user's link status. Handlers
//! only parse, call the domain and render.

mod deadline;
mod link;
mod proxy;

use actix_web::web;

/// Mounts `/v1/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/link", web::get().to(link::status))
            .route("/link/revoke", web::post().to(link::revoke))
            .route("/spotify/{path:.*}", web::to(proxy::forward))
            .default_service(web::to(crate::routes::not_found)),
    );
}
