//! The operators' API behind `auth.admin_tokens`: inspect, revoke and restore links (metadata only,
//! never tokens), and see what Spotify imposes on the app. Changes go through the link owner, like
//! every other change.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::domain::{LinkId, UnixTime};
use crate::error::ApiError;
use crate::proxy::PauseKind;
use crate::state::SharedState;
use crate::store::{Actor, Restoration, Revocation};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/app", web::get().to(app))
            .route("/links", web::get().to(list))
            .route("/links/{link_id}", web::get().to(show))
            .route("/links/{link_id}", web::delete().to(revoke))
            .route("/links/{link_id}/restore", web::post().to(restore))
            .default_service(web::to(crate::routes::not_found)),
    );
}

fn require_admin(request: &HttpRequest, state: &SharedState) -> Result<(), ApiError> {
    crate::credentials::require_admin(request, &state.admin_tokens)
}

fn link_id(raw: &str) -> Result<LinkId, ApiError> {
    LinkId::parse(raw).map_err(|err| ApiError::BadRequest(err.to_string()))
}

#[derive(Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<i64>,
}

/// A development-mode Spotify app serves at most this many users (Spotify's February 2026 limits).
const DEVELOPMENT_SEATS: i64 = 5;
/// How many refusals at linking `GET /admin/app` shows.
const RECENT_REFUSALS: i64 = 20;

/// What Spotify imposes on the app: seats in use against development mode's five, the latest users
/// refused at linking, the 429 pauses and the owner's Premium incident.
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

async fn list(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let page: Page = web::Query::<Page>::from_query(request.query_string())
        .map_err(|err| ApiError::BadRequest(err.to_string()))?
        .into_inner();
    let after = page.after.as_deref().map(link_id).transpose()?;
    let limit = page.limit.unwrap_or(100).clamp(1, 500);
    let links = state.store.list_links(after.as_ref(), limit).await?;
    let next = (links.len() as i64 == limit)
        .then(|| links.last().map(|l| l.link_id))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "links": links, "next_after": next })))
}

async fn show(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    let summary = state
        .store
        .link_summary(&link_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(summary))
}

async fn revoke(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    match state.lifecycle.revoke(&link_id, Actor::Admin).await? {
        Revocation::Revoked | Revocation::AlreadyRevoked => Ok(HttpResponse::NoContent().finish()),
        Revocation::NotFound => Err(ApiError::NotFound),
    }
}

/// Puts a link marked relink-required back into service, when its Spotify tokens are still kept (after
/// an upstream incident refused good tokens).
async fn restore(
    request: HttpRequest,
    path: web::Path<String>,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    require_admin(&request, &state)?;
    let link_id = link_id(&path)?;
    match state.lifecycle.restore(&link_id, Actor::Admin).await? {
        Restoration::Restored => Ok(HttpResponse::NoContent().finish()),
        Restoration::NotRestorable => Err(ApiError::Conflict(
            "only a link marked relink_required whose tokens are kept can be restored".to_owned(),
        )),
        Restoration::NotFound => Err(ApiError::NotFound),
    }
}
