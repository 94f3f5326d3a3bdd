//! The operators' API behind `auth.admin_tokens`: list and inspect links (metadata only, never tokens),
//! revoke and restore them, and read the audit trail. Changes go through the link owner, like every
//! other change; the admin token's id is recorded as the actor.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::domain::{AdminId, LinkId, UnixTime};
use crate::error::ApiError;
use crate::openapi::ErrorBody;
use crate::proxy::PauseKind;
use crate::routes::{Audience, RouteSpec};
use crate::state::SharedState;
use crate::store::{
    Actor, AuditCursor, AuditEvent, AuditFilter, AuditKind, LinkDetails, LinkFilter, LinkStatus,
    Restoration, Revocation,
};

/// The routes of `/admin/*`.
pub fn routes() -> [RouteSpec; 6] {
    [
        RouteSpec::new(Method::GET, "/admin/app", Audience::Operator, || {
            web::get().to(app)
        }),
        RouteSpec::new(Method::GET, "/admin/links", Audience::Operator, || {
            web::get().to(list)
        }),
        RouteSpec::new(
            Method::GET,
            "/admin/links/{link_id}",
            Audience::Operator,
            || web::get().to(show),
        ),
        RouteSpec::new(
            Method::DELETE,
            "/admin/links/{link_id}",
            Audience::Operator,
            || web::delete().to(revoke),
        ),
        RouteSpec::new(
            Method::POST,
            "/admin/links/{link_id}/restore",
            Audience::Operator,
            || web::post().to(restore),
        ),
        RouteSpec::new(Method::GET, "/admin/audit", Audience::Operator, || {
            web::get().to(audit)
        }),
    ]
}

/// The admin part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(app, list, show, revoke, restore, audit),
    components(schemas(AdminLink, LinkPage, AuditEventBody, AuditPage, AuditKind, LinkStatus))
)]
pub struct ApiDoc;

/// Most items one page holds; larger `limit`s are lowered to it.
const MAX_LIMIT: i64 = 500;
const DEFAULT_LIMIT: i64 = 100;

fn require_admin(request: &HttpRequest, state: &SharedState) -> Result<AdminId, ApiError> {
    crate::credentials::require_admin(request, &state.admin_tokens)
}

fn link_id(raw: &str) -> Result<LinkId, ApiError> {
    LinkId::parse(raw).map_err(|err| ApiError::BadRequest(err.to_string()))
}

fn query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(request.query_string())
        .map(web::Query::into_inner)
        .map_err(|err| ApiError::BadRequest(err.to_string()))
}

fn limit(raw: Option<i64>) -> i64 {
    raw.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

fn rfc3339(time: UnixTime) -> String {
    time.to_rfc3339()
}

/// A link's metadata: never a token.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminLink {
    #[schema(value_type = String, format = Uuid)]
    link_id: LinkId,
    spotify_user_id: String,
    display_name: Option<String>,
    status: LinkStatus,
    /// The Spotify scopes granted, space-separated.
    scopes: String,
    /// When the user consented at Spotify (RFC 3339).
    #[schema(format = DateTime)]
    authorized_at: String,
    /// Six months after consent, when Spotify's refresh token dies (RFC 3339).
    #[schema(format = DateTime)]
    relink_due_at: String,
    /// The last change of the row (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
    /// When the Spotify access token was last refreshed (RFC 3339), if ever.
    #[schema(format = DateTime)]
    last_refreshed_at: Option<String>,
    /// When the skill last used the link (RFC 3339, to the minute), if ever.
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    /// What seals the link's Spotify tokens: `key_ring` or `data_key`.
    #[schema(example = "key_ring")]
    sealed_by: String,
}

impl From<&LinkDetails> for AdminLink {
    fn from(details: &LinkDetails) -> Self {
        let summary = &details.summary;
        Self {
            link_id: summary.link_id,
            spotify_user_id: summary.spotify_user_id.to_string(),
            display_name: summary.display_name.clone(),
            status: summary.status,
            scopes: summary.scopes.clone(),
            authorized_at: rfc3339(summary.authorized_at),
            relink_due_at: rfc3339(details.relink_due_at()),
            updated_at: rfc3339(summary.updated_at),
            last_refreshed_at: details.last_refreshed_at.map(rfc3339),
            last_used_at: details.last_used_at.map(rfc3339),
            sealed_by: details.sealed_by.clone(),
        }
    }
}

/// One page of links.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkPage {
    links: Vec<AdminLink>,
    /// Pass as `after` for the next page; null on the last page.
    #[schema(value_type = Option<String>, format = Uuid)]
    next_after: Option<LinkId>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LinkQuery {
    /// Only links in this status.
    #[param(inline)]
    status: Option<LinkStatusParam>,
    /// Only links whose `relink_due_at` is before this time (RFC 3339).
    #[param(format = DateTime)]
    relink_due_before: Option<String>,
    /// The `next_after` of the previous page.
    #[param(format = Uuid)]
    after: Option<String>,
    /// Page size, 1–500 (default 100; larger values are lowered to 500).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

/// A development-mode Spotify app serves at most this many users (Spotify's February 2026 limits).
const DEVELOPMENT_SEATS: i64 = 5;
/// How many refusals at linking `GET /admin/app` shows.
const RECENT_REFUSALS: i64 = 20;

/// What Spotify imposes on the app: seats in use against development mode's five, the latest users
/// refused at linking, the 429 pauses and the owner's Premium incident.
#[utoipa::path(
    get,
    path = "/admin/app",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "development-mode seats, recent refusals, pauses and the Premium incident", body = Object),
        (status = 401, description = "`service_unauthorized`: missing or wrong admin token", body = ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot be reached", body = ErrorBody),
    )
)]
async fn app(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let used = state.store.seated_users().await?;
    let refusals = state.store.recent_app_refusals(RECENT_REFUSALS).await?;
    let cooldown = state.proxy.cooldown();
    let now_ms = u64::try_from(UnixTime::now().as_secs().saturating_mul(1000)).unwrap_or(0);
    let until_s = |kind| {
        let until = cooldown.until_ms(kind);
        (until > now_ms).then(|| until.div_ceil(1000))
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "development_mode_seats": { "limit": DEVELOPMENT_SEATS, "used": used },
        "recent_refusals": refusals,
        "rate_limited_until": until_s(PauseKind::RateLimit),
        "quota_exceeded_until": until_s(PauseKind::Quota),
        "owner_premium_incident_since": cooldown.incident_since_ms().map(|ms| ms / 1000),
    })))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum LinkStatusParam {
    Active,
    RelinkRequired,
    Revoked,
}

impl From<LinkStatusParam> for LinkStatus {
    fn from(param: LinkStatusParam) -> Self {
        match param {
            LinkStatusParam::Active => Self::Active,
            LinkStatusParam::RelinkRequired => Self::RelinkRequired,
            LinkStatusParam::Revoked => Self::Revoked,
        }
    }
}

/// Lists links with filters, in id order.
#[utoipa::path(
    get,
    path = "/admin/links",
    operation_id = "list_links",
    tag = "admin",
    params(LinkQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "one page of links", body = LinkPage),
        (status = 400, description = "`bad_request`: a malformed filter or cursor", body = ErrorBody),
        (status = 401, description = "`service_unauthorized`: no or a wrong admin token", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn list(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let query: LinkQuery = query(&request)?;
    let after = query.after.as_deref().map(link_id).transpose()?;
    let relink_due_before = query
        .relink_due_before
        .as_deref()
        .map(|raw| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| UnixTime::from_secs(t.timestamp()))
                .map_err(|_| {
                    ApiError::BadRequest("relink_due_before must be an RFC 3339 time".to_owned())
                })
        })
        .transpose()?;
    let filter = LinkFilter {
        status: query.status.map(LinkStatus::from),
        relink_due_before,
    };
    let limit = limit(query.limit);
    let links = state
        .store
        .list_link_details(filter, after.as_ref(), limit)
        .await?;
    let next_after = (links.len() as i64 == limit)
        .then(|| links.last().map(|l| l.summary.link_id))
        .flatten();
    Ok(no_store().json(LinkPage {
        links: links.iter().map(AdminLink::from).collect(),
        next_after,
    }))
}

/// One link's metadata.
#[utoipa::path(
    get,
    path = "/admin/links/{link_id}",
    operation_id = "show_link",
    tag = "admin",
    params(("link_id" = String, Path, format = Uuid, description = "the link")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "the link", body = AdminLink),
        (status = 400, description = "`bad_request`: not a link id", body = ErrorBody),
        (status = 401, description = "`service_unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn show(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    let details = state
        .store
        .link_details(&link_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(no_store().json(AdminLink::from(&details)))
}

/// Revokes a link: destroys its Spotify tokens and revokes its broker tokens. Idempotent.
#[utoipa::path(
    delete,
    path = "/admin/links/{link_id}",
    operation_id = "revoke_link",
    tag = "admin",
    params(("link_id" = String, Path, format = Uuid, description = "the link")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "revoked (a second revoke is 204 too, and records nothing)"),
        (status = 400, description = "`bad_request`: not a link id", body = ErrorBody),
        (status = 401, description = "`service_unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn revoke(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    match state
        .lifecycle
        .revoke(&link_id, Actor::Admin(admin))
        .await?
    {
        Revocation::Revoked | Revocation::AlreadyRevoked => Ok(HttpResponse::NoContent().finish()),
        Revocation::NotFound => Err(ApiError::NotFound),
    }
}

/// Puts a link marked relink-required back into service, when its Spotify tokens are still kept (after
/// an upstream incident refused good tokens).
#[utoipa::path(
    post,
    path = "/admin/links/{link_id}/restore",
    operation_id = "restore_link",
    tag = "admin",
    params(("link_id" = String, Path, format = Uuid, description = "the link")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "restored"),
        (status = 400, description = "`bad_request`: not a link id", body = ErrorBody),
        (status = 401, description = "`service_unauthorized`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`conflict`: the link is active, revoked, or has no tokens", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn restore(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    let admin = require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    match state
        .lifecycle
        .restore(&link_id, Actor::Admin(admin))
        .await?
    {
        Restoration::Restored => Ok(HttpResponse::NoContent().finish()),
        Restoration::NotRestorable => Err(ApiError::Conflict(
            "only a link marked relink_required whose tokens are kept can be restored".to_owned(),
        )),
        Restoration::NotFound => Err(ApiError::NotFound),
    }
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    #[schema(format = Uuid)]
    event_id: String,
    /// Null for events of no single link (`keys_rewrapped`).
    #[schema(value_type = Option<String>, format = Uuid)]
    link_id: Option<LinkId>,
    /// One of `AuditKind` (a kind a newer broker recorded is shown as it is).
    #[schema(example = "revoked")]
    kind: String,
    /// `admin:<id>` (the first 8 hex digits of the admin token's SHA-256), `cli`, `user`,
    /// `oauth_client` or `broker`.
    #[schema(example = "admin:1a2b3c4d")]
    actor: String,
    /// Why, when there is more to say (Spotify's refusal, an incident).
    reason: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    at: String,
}

impl From<&AuditEvent> for AuditEventBody {
    fn from(event: &AuditEvent) -> Self {
        Self {
            event_id: event.event_id.clone(),
            link_id: event.link_id,
            kind: event.kind.clone(),
            actor: event.actor.clone(),
            reason: event.reason.clone(),
            at: rfc3339(event.at),
        }
    }
}

/// One page of the audit trail, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<AuditEventBody>,
    /// Pass as `after` for the next page; null on the last page.
    next_after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this link's events.
    #[param(format = Uuid)]
    link_id: Option<String>,
    /// Only events of this kind.
    #[param(inline)]
    kind: Option<AuditKind>,
    /// The `next_after` of the previous page (opaque).
    after: Option<String>,
    /// Page size, 1–500 (default 100; larger values are lowered to 500).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

/// Reads the audit trail, oldest first, with filters and cursor paging.
#[utoipa::path(
    get,
    path = "/admin/audit",
    operation_id = "read_audit_trail",
    tag = "admin",
    params(AuditQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "one page of events", body = AuditPage),
        (status = 400, description = "`bad_request`: a malformed filter or cursor", body = ErrorBody),
        (status = 401, description = "`service_unauthorized`", body = ErrorBody),
        (status = 503, description = "`unavailable`", body = ErrorBody),
    )
)]
async fn audit(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let query: AuditQuery = query(&request)?;
    let filter = AuditFilter {
        link_id: query.link_id.as_deref().map(link_id).transpose()?,
        kind: query.kind,
    };
    let after = query
        .after
        .as_deref()
        .map(|raw| {
            AuditCursor::parse(raw).ok_or_else(|| {
                ApiError::BadRequest("after is not a cursor this API gave".to_owned())
            })
        })
        .transpose()?;
    let limit = limit(query.limit);
    let events = state
        .store
        .audit_events(&filter, after.as_ref(), limit)
        .await?;
    let next_after = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.cursor().to_string()))
        .flatten();
    Ok(no_store().json(AuditPage {
        events: events.iter().map(AuditEventBody::from).collect(),
        next_after,
    }))
}

fn no_store() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    response
}
