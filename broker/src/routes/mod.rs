//! The broker's route table, the one list that both mounts the routes and is checked against the OpenAPI
//! document; plus the small routes that belong to no larger area (health, readiness, the document,
//! metrics, and the JSON answers for unknown paths and oversized requests).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, ResponseError, Route, guard, web};
use broker_proto::limits::Exceeded;

use crate::error::ApiError;
use crate::state::SharedState;
use crate::telemetry::RouteLabel;

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
        RouteSpec::new(Method::GET, "/metrics", Audience::Operator, || {
            web::get().to(metrics)
        }),
    ];
    routes.extend(crate::oauth::routes());
    routes.extend(crate::api::routes());
    routes.extend(crate::admin::routes());
    routes
}

/// Mounts what `listener` serves: the proxy's prefix under `/v1/spotify` first (the hot path, matched
/// by a prefix compare before any pattern), then the table's routes, each labelled with its template.
/// Anything else is the application's default service, [`not_found`].
pub fn configure(listener: Listener) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        if listener.serves(Audience::Public) {
            crate::api::configure_proxy(cfg);
        }
        for route in table()
            .into_iter()
            .filter(|route| listener.serves(route.audience))
        {
            cfg.service(
                web::resource(route.path)
                    .guard(guard::Method(route.method.clone()))
                    .app_data(RouteLabel(route.path))
                    .route((route.make)()),
            );
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

/// The Prometheus text exposition (`404 not_found` when `metrics.enabled` is false).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "every metric family, in Prometheus text format", content_type = "text/plain", body = String),
        (status = 404, description = "`not_found`: metrics are turned off (`metrics.enabled = false`)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn metrics(state: SharedState) -> Result<HttpResponse, ApiError> {
    let recorder = state
        .metrics_enabled
        .then(broker_proto::metrics::recorder)
        .flatten()
        .ok_or(ApiError::NotFound)?;
    let cooldown = state.proxy.cooldown();
    crate::telemetry::metrics::cooldown_state(
        &cooldown.remaining(),
        cooldown.incident_since_ms().is_some(),
    );
    crate::telemetry::metrics::log_lines_dropped(crate::telemetry::dropped_log_lines());
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(recorder.render()))
}

/// A request over a size limit (`server.max_header_bytes` here; bodies are refused where they are read):
/// the token and revocation endpoints answer in RFC 6749's shape, everything else with the normalized
/// `bad_request`, each with the limit's status.
pub fn refuse_oversized(request: &HttpRequest, exceeded: Exceeded) -> HttpResponse {
    if crate::oauth::answers_rfc6749_json(request.path()) {
        crate::oauth::OAuthError::too_large(exceeded).error_response()
    } else {
        ApiError::TooLarge(exceeded).error_response()
    }
}

/// Every path nobody serves.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}
