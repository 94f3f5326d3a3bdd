//! The internal API the skill calls: Spotify through the broker, and the user's link status.

mod allowlist;
mod cache;
mod cooldown;
mod credentials;
mod deadline;
mod link;
mod proxy;

pub use allowlist::{Endpoint, Freshness};
pub use cache::{CacheSettings, ResponseCache};
pub use cooldown::Cooldown;
pub use credentials::{AcceptedTokens, bearer_value};
pub use proxy::{Proxy, ProxySettings};

use actix_web::web;

/// Mounts `/v1/*`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .route("/link", web::get().to(link::status))
            .route("/link/revoke", web::post().to(link::revoke))
            .default_service(web::to(proxy::forward)),
    );
}
