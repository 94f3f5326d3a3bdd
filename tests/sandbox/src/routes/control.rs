//! The `/sandbox/…` control API: seed and change users and their data, revoke and expire, move the clock,
//! inject faults and latency, read and reset counters.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::SandboxError;
use crate::seed::{DeviceSeed, PlayerSeed, PlaylistSeed, RefreshMode, UserPatch, UserSeed};
use crate::state::Sandbox;
use crate::state::app::{AppPatch, DEVELOPMENT_SEATS};
use crate::state::faults::{FaultKind, FaultRule};
use crate::state::player::Player;

/// Body of `PUT /sandbox/users/{id}/refresh-mode`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RefreshModeBody {
    /// The new mode.
    pub mode: RefreshMode,
}

/// Body of `POST /sandbox/clock/advance`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdvanceBody {
    /// Seconds to move forward.
    pub seconds: i64,
}

/// Body of `PUT /sandbox/latency`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LatencyBody {
    /// Milliseconds added to every non-control call.
    pub ms: u64,
}

/// Registers the control routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(|err, _| SandboxError::Control(err.to_string()).into()),
    )
    .route("/sandbox/app", web::get().to(app))
    .route("/sandbox/app", web::patch().to(update_app))
    .route("/sandbox/users", web::post().to(seed_user))
    .route("/sandbox/users/{id}", web::patch().to(update_user))
    .route("/sandbox/users/{id}/revoke", web::post().to(revoke))
    .route(
        "/sandbox/users/{id}/expire-access-tokens",
        web::post().to(expire),
    )
    .route(
        "/sandbox/users/{id}/refresh-mode",
        web::put().to(refresh_mode),
    )
    .route("/sandbox/users/{id}/devices", web::put().to(set_devices))
    .route("/sandbox/users/{id}/devices", web::get().to(get_devices))
    .route(
        "/sandbox/users/{id}/playlists",
        web::put().to(set_playlists),
    )
    .route("/sandbox/users/{id}/player", web::put().to(set_player))
    .route("/sandbox/users/{id}/player", web::get().to(get_player))
    .route("/sandbox/clock/advance", web::post().to(advance_clock))
    .route("/sandbox/faults", web::post().to(add_fault))
    .route("/sandbox/faults", web::get().to(list_faults))
    .route("/sandbox/faults", web::delete().to(clear_faults))
    .route("/sandbox/latency", web::put().to(set_latency))
    .route("/sandbox/counters", web::get().to(counters))
    .route("/sandbox/counters/reset", web::post().to(reset_counters));
}

async fn seed_user(
    sandbox: web::Data<Sandbox>,
    body: web::Json<UserSeed>,
) -> Result<HttpResponse, SandboxError> {
    sandbox.seed_user(&body)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The app's mode, its owner's subscription and its allowlist.
async fn app(sandbox: web::Data<Sandbox>) -> HttpResponse {
    let world = sandbox.world();
    HttpResponse::Ok().json(json!({
        "mode": world.app.mode,
        "owner_premium": world.app.owner_premium,
        "seats": world.app.seats_limited().then_some(DEVELOPMENT_SEATS),
        "allowlist": world.allowlist(),
    }))
}

async fn update_app(sandbox: web::Data<Sandbox>, body: web::Json<AppPatch>) -> HttpResponse {
    sandbox.world().app.patch(&body);
    HttpResponse::NoContent().finish()
}

async fn update_user(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<HttpResponse, SandboxError> {
    let patch = body.into_inner();
    let mut world = sandbox.world();
    let rescope = patch.scopes.clone().filter(|s| !s.is_empty());
    let joins = patch.registered == Some(true) && !world.user_mut(&id)?.registered;
    if joins {
        world.check_seat(&id)?;
    }
    world.user_mut(&id)?.patch(patch);
    if let Some(scopes) = rescope {
        world.grants.rescope_user(&id, &scopes);
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke(sandbox: web::Data<Sandbox>, id: web::Path<String>) -> HttpResponse {
    let revoked = sandbox.world().grants.revoke_user(&id);
    HttpResponse::Ok().json(json!({ "revoked_grants": revoked }))
}

async fn expire(sandbox: web::Data<Sandbox>, id: web::Path<String>) -> HttpResponse {
    let now_s = sandbox.clock.now_s();
    let expired = sandbox.world().grants.expire_user_access(&id, now_s);
    HttpResponse::Ok().json(json!({ "expired_access_tokens": expired }))
}

async fn refresh_mode(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    body: web::Json<RefreshModeBody>,
) -> Result<HttpResponse, SandboxError> {
    sandbox.world().user_mut(&id)?.refresh_mode = body.mode;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_devices(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    body: web::Json<Vec<DeviceSeed>>,
) -> Result<HttpResponse, SandboxError> {
    sandbox
        .world()
        .user_mut(&id)?
        .set_devices(body.into_inner());
    Ok(HttpResponse::NoContent().finish())
}

async fn get_devices(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
) -> Result<HttpResponse, SandboxError> {
    let mut world = sandbox.world();
    Ok(HttpResponse::Ok().json(&world.user_mut(&id)?.devices))
}

async fn set_playlists(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    body: web::Json<Vec<PlaylistSeed>>,
) -> Result<HttpResponse, SandboxError> {
    sandbox.world().user_mut(&id)?.set_playlists(&body);
    Ok(HttpResponse::NoContent().finish())
}

async fn set_player(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    body: web::Json<PlayerSeed>,
) -> Result<HttpResponse, SandboxError> {
    let now_ms = sandbox.clock.now_ms();
    let mut world = sandbox.world();
    let user = world.user_mut(&id)?;
    if let Some(device) = &body.device_id {
        if user.device(device).is_none() {
            return Err(SandboxError::ControlNotFound(format!(
                "unknown device {device}"
            )));
        }
    }
    user.player = Player::from_seed(&body, now_ms);
    user.ensure_items(&body.queue);
    user.sync_active_flags();
    Ok(HttpResponse::NoContent().finish())
}

async fn get_player(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
) -> Result<HttpResponse, SandboxError> {
    let now_ms = sandbox.clock.now_ms();
    let mut world = sandbox.world();
    let user = world.user_mut(&id)?;
    let duration = user.current_item().map_or(0, |i| i.duration_ms());
    Ok(HttpResponse::Ok().json(user.player.to_seed(now_ms, duration)))
}

async fn advance_clock(sandbox: web::Data<Sandbox>, body: web::Json<AdvanceBody>) -> HttpResponse {
    let offset = sandbox.clock.advance(body.seconds);
    HttpResponse::Ok().json(json!({ "offset_s": offset }))
}

async fn add_fault(
    sandbox: web::Data<Sandbox>,
    body: web::Json<FaultRule>,
) -> Result<HttpResponse, SandboxError> {
    let rule = body.into_inner();
    if let FaultKind::Status { status } = rule.kind {
        if !(500..=599).contains(&status) {
            return Err(SandboxError::Control(format!(
                "status {status} is not a 5xx"
            )));
        }
    }
    sandbox.faults.add(rule);
    Ok(HttpResponse::NoContent().finish())
}

async fn list_faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "rules": sandbox.faults.rules(), "latency_ms": sandbox.faults.latency_ms() }))
}

async fn clear_faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.faults.clear();
    HttpResponse::NoContent().finish()
}

async fn set_latency(sandbox: web::Data<Sandbox>, body: web::Json<LatencyBody>) -> HttpResponse {
    sandbox.faults.set_latency_ms(body.ms);
    HttpResponse::NoContent().finish()
}

async fn counters(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok().json(sandbox.counters.snapshot())
}

async fn reset_counters(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.counters.reset();
    HttpResponse::NoContent().finish()
}
