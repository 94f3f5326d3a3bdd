//! The player endpoints: playback state, devices, and the play/pause/skip/transfer/volume/shuffle/
//! repeat/queue commands.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::SandboxError;
use crate::routes::api::objects;
use crate::routes::api::request::bearer;
use crate::state::Sandbox;
use crate::state::player::{self, PlayBody, TransferBody};
use crate::state::users::{Item, User};

const READ_STATE: &[&str] = &["user-read-playback-state"];
const READ_CURRENT: &[&str] = &["user-read-currently-playing", "user-read-playback-state"];
const MODIFY: &[&str] = &["user-modify-playback-state"];

/// Query of the playback-state endpoints.
#[derive(Debug, Deserialize)]
pub struct StateQuery {
    additional_types: Option<String>,
}

/// Query of the player commands.
#[derive(Debug, Deserialize)]
pub struct CommandQuery {
    device_id: Option<String>,
}

/// Query of the volume, shuffle, repeat and queue commands (each reads the one it needs).
#[derive(Debug, Deserialize)]
pub struct SettingQuery {
    device_id: Option<String>,
    volume_percent: Option<String>,
    state: Option<String>,
    uri: Option<String>,
}

fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, SandboxError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SandboxError::bad_request(format!("Required parameter {name} missing")))
}

fn playback(
    base: &str,
    user: &User,
    now_ms: i64,
    with_device: bool,
    additional_types: Option<&str>,
) -> Value {
    let episodes_ok = additional_types.is_some_and(|t| t.split(',').any(|t| t.trim() == "episode"));
    let current = user.current_item();
    let (item, kind) = match current {
        _ if user.player.ad => (Value::Null, "ad"),
        Some(Item::Episode(_)) if !episodes_ok => (Value::Null, "episode"),
        Some(item) => objects::item(base, item),
        None => (Value::Null, "unknown"),
    };
    let duration = current.map_or(0, Item::duration_ms);
    let p = &user.player;
    let mut disallows = if p.is_playing {
        json!({ "resuming": true })
    } else {
        json!({ "pausing": true })
    };
    if let (true, Some(map)) = (p.ad, disallows.as_object_mut()) {
        map.insert("skipping_next".to_owned(), json!(true));
        map.insert("skipping_prev".to_owned(), json!(true));
    }
    let mut value = json!({
        "repeat_state": p.repeat,
        "shuffle_state": p.shuffle,
        "context": p.context_uri.as_deref().map(|uri| objects::context(base, uri)),
        "timestamp": p.updated_ms,
        "progress_ms": p.progress_at(now_ms, duration),
        "is_playing": p.is_playing,
        "item": item,
        "currently_playing_type": kind,
        "actions": { "disallows": disallows },
    });
    if with_device {
        let device = p
            .device_id
            .as_deref()
            .and_then(|id| user.device(id))
            .map(objects::device);
        if let (Some(map), Some(device)) = (value.as_object_mut(), device) {
            map.insert("device".to_owned(), device);
        }
    }
    value
}

fn json_response(value: &Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// `GET /v1/me/player`: CurrentlyPlayingContextObject, or 204 when no device is active.
pub async fn state(
    req: HttpRequest,
    query: web::Query<StateQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let now_ms = sandbox.clock.now_ms();
    let value = {
        let mut world = sandbox.world();
        let user = world.api_user(token, READ_STATE, now_ms / 1000)?.user;
        if user.player.device_id.is_none() {
            return Ok(HttpResponse::NoContent().finish());
        }
        playback(
            &sandbox.base_url,
            user,
            now_ms,
            true,
            query.additional_types.as_deref(),
        )
    };
    Ok(json_response(&value))
}

/// `GET /v1/me/player/currently-playing`: CurrentlyPlayingObject, or 204 when nothing is playing.
pub async fn currently_playing(
    req: HttpRequest,
    query: web::Query<StateQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let now_ms = sandbox.clock.now_ms();
    let value = {
        let mut world = sandbox.world();
        let user = world.api_user(token, READ_CURRENT, now_ms / 1000)?.user;
        if user.player.device_id.is_none() || user.current_item().is_none() {
            return Ok(HttpResponse::NoContent().finish());
        }
        playback(
            &sandbox.base_url,
            user,
            now_ms,
            false,
            query.additional_types.as_deref(),
        )
    };
    Ok(json_response(&value))
}

/// `GET /v1/me/player/devices`: `{"devices": [DeviceObject]}`.
pub async fn devices(
    req: HttpRequest,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let now_s = sandbox.clock.now_s();
    let value = {
        let mut world = sandbox.world();
        let user = world.api_user(token, READ_STATE, now_s)?.user;
        json!({ "devices": user.devices.iter().map(objects::device).collect::<Vec<_>>() })
    };
    Ok(json_response(&value))
}

fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, SandboxError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| SandboxError::bad_request("Malformed json"))
}

/// Runs a player command against the token's user and answers 204.
fn command(
    req: &HttpRequest,
    sandbox: &Sandbox,
    run: impl FnOnce(&mut User, i64) -> Result<(), SandboxError>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(req)?;
    let now_ms = sandbox.clock.now_ms();
    let mut world = sandbox.world();
    let user = world.api_user(token, MODIFY, now_ms / 1000)?.user;
    run(user, now_ms)?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /v1/me/player/play`.
pub async fn play(
    req: HttpRequest,
    query: web::Query<CommandQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let body: PlayBody = parse_body(&body)?;
        player::play(user, query.device_id.as_deref(), body, now)
    })
}

/// `PUT /v1/me/player/pause`.
pub async fn pause(
    req: HttpRequest,
    query: web::Query<CommandQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        player::pause(user, query.device_id.as_deref(), now)
    })
}

/// `POST /v1/me/player/next`.
pub async fn next(
    req: HttpRequest,
    query: web::Query<CommandQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        player::skip(user, query.device_id.as_deref(), true, now)
    })
}

/// `POST /v1/me/player/previous`.
pub async fn previous(
    req: HttpRequest,
    query: web::Query<CommandQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        player::skip(user, query.device_id.as_deref(), false, now)
    })
}

/// `PUT /v1/me/player`: transfer playback.
pub async fn transfer(
    req: HttpRequest,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let body: TransferBody = serde_json::from_slice(&body)
            .map_err(|_| SandboxError::bad_request("Required field device_ids missing"))?;
        player::transfer(user, body, now)
    })
}

/// `PUT /v1/me/player/volume?volume_percent=0..100`.
pub async fn volume(
    req: HttpRequest,
    query: web::Query<SettingQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let raw = required(query.volume_percent.as_deref(), "volume_percent")?;
        let percent = raw
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| SandboxError::bad_request("Invalid volume_percent"))?;
        player::volume(user, query.device_id.as_deref(), percent, now)
    })
}

/// `PUT /v1/me/player/shuffle?state=true|false`.
pub async fn shuffle(
    req: HttpRequest,
    query: web::Query<SettingQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let on = match required(query.state.as_deref(), "state")? {
            "true" => true,
            "false" => false,
            _ => return Err(SandboxError::bad_request("Invalid state")),
        };
        player::shuffle(user, query.device_id.as_deref(), on, now)
    })
}

/// `PUT /v1/me/player/repeat?state=track|context|off`.
pub async fn repeat(
    req: HttpRequest,
    query: web::Query<SettingQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let state = required(query.state.as_deref(), "state")?;
        if !matches!(state, "track" | "context" | "off") {
            return Err(SandboxError::bad_request("Invalid state"));
        }
        player::repeat(user, query.device_id.as_deref(), state, now)
    })
}

/// `POST /v1/me/player/queue?uri=spotify:track:…`.
pub async fn queue(
    req: HttpRequest,
    query: web::Query<SettingQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    command(&req, &sandbox, |user, now| {
        let uri = required(query.uri.as_deref(), "uri")?;
        player::enqueue(user, query.device_id.as_deref(), uri, now)
    })
}
