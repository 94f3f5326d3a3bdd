//! The broker's route table, the one list that both mounts the routes and is checked against the OpenAPI
//! document; plus the small routes that belong to no larger area (health, readiness, the document, and
//! the JSON answer for unknown paths).

use actix_web::http::Method;
use actix_web::{HttpResponse, Route, web};

use crate::error::ApiError;
use crate::state::SharedState;

/// Who a route is for, which decides the listener that serves it when `server.admin_bind` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Alexa, the skill, browsers: the main listener.
    Public,
    /// Operators (`/admin/*`, metrics): only the admin listener, when there is one.
    Operator,
    /// Health checks: both listeners.
    Everyone,
}

/// One route the broker serves.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    /// The path template, in actix's and OpenAPI's shared `{name}` syntax.
    pub path: &'static str,
    pub audience: Audience,
    make: fn() -> Route,
}

impl RouteSpec {
    pub const fn new(
        method: Method,
        path: &'static str,
        audience: Audience,
        make: fn() -> Route,
    ) -> Self {
        Self {
            method,
            path,
            audience,
            make,
        }
    }
}

/// Which listener an application is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// One listener serves everything (`server.admin_bind` unset).
    Combined,
    /// The main listener when an admin listener exists: no operator routes.
    Public,
    /// The admin listener: operator routes and health only.
    Admin,
}

impl Listener {
    pub fn serves(self, audience: Audience) -> bool {
        match (self, audience) {
            (Self::Combined, _) | (_, Audience::Everyone) => true,
            (Self::Public, Audience::Public) | (Self::Admin, Audience::Operator) => true,
            (Self::Public, Audience::Operator) | (Self::Admin, Audience::Public) => false,
        }
    }
}

/// Every route of the broker, with a fixed path. The Spotify endpoints under `/v1/spotify` are the
/// proxy's allowlist ([`crate::proxy::Endpoint::allowlist`]), served by one catch-all.
pub fn table() -> Vec<RouteSpec> {
    let mut routes = vec![
        RouteSpec::new(Method::GET, "/healthz", Audience::Everyone, || {
            web::get().to(healthz)
        }),
        RouteSpec::new(Method::GET, "/readyz", Audience::Everyone, || {
            web::get().to(readyz)
        }),
        RouteSpec::new(Method::GET, "/openapi.json", Audience::Public, || {
            web::get().to(crate::openapi::document)
        }),
    ];
    routes.extend(crate::oauth::routes());
    routes.extend(crate::api::routes());
    routes.extend(crate::admin::routes());
    routes
}

/// Mounts what `listener` serves: the table's routes, then the proxy's catch-all under `/v1`. Anything
/// else is the application's default service, [`not_found`].
pub fn configure(listener: Listener) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        for route in table()
            .into_iter()
            .filter(|route| listener.serves(route.audience))
        {
            cfg.route(route.path, (route.make)());
        }
        if listener.serves(Audience::Public) {
            crate::api::configure_proxy(cfg);
        }
    }
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "the process is up", body = crate::openapi::Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The store answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "the store answers", body = crate::openapi::Health),
        (status = 503, description = "`unavailable`: the store cannot be reached", body = crate::openapi::ErrorBody),
    )
)]
pub async fn readyz(state: SharedState) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

/// Every path nobody serves.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
