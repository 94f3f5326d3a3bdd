//! The internal API the skill calls: Spotify through the broker, and the user's link status. Handlers
//! only parse, call the domain and render.

mod deadline;
mod link;
mod proxy;

use actix_web::http::Method;
use actix_web::web;
use utoipa::OpenApi;

use crate::routes::{Audience, RouteSpec};
use crate::telemetry::RouteLabel;

/// The fixed routes of `/v1/*`; the Spotify endpoints are the proxy's catch-all.
pub fn routes() -> [RouteSpec; 2] {
    [
        RouteSpec::new(Method::GET, "/v1/link", Audience::Public, || {
            web::get().to(link::status)
        }),
        RouteSpec::new(Method::POST, "/v1/link/revoke", Audience::Public, || {
            web::post().to(link::revoke)
        }),
    ]
}

/// Mounts the proxy on every path under `/v1/spotify`: it serves the allowlisted Spotify endpoints and
/// answers `not_found` for the rest. A scope's prefix is a plain compare, so the hot path runs no pattern.
pub fn configure_proxy(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(proxy::PREFIX)
            .app_data(RouteLabel(proxy::ROUTE))
            .default_service(web::to(proxy::forward)),
    );
}

/// The internal API's part of the OpenAPI document (the Spotify endpoints are added from the allowlist).
#[derive(OpenApi)]
#[openapi(
    paths(link::status, link::revoke),
    components(schemas(link::LinkStatusDoc, crate::store::LinkStatus))
)]
pub struct ApiDoc;
