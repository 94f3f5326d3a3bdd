//! A user's player and the commands that move it: play, pause, skip, transfer, volume, shuffle, repeat
//! and queue, with Spotify's refusals.

use actix_web::http::StatusCode;
use serde::Deserialize;

use crate::error::SandboxError;
use crate::seed::{PlayerSeed, Product};
use crate::state::users::User;

/// Playback state: the queue, the position in it, and the active device.
#[derive(Debug, Default, Clone)]
pub struct Player {
    /// The active device, if any.
    pub device_id: Option<String>,
    /// Whether playback runs.
    pub is_playing: bool,
    /// Context of the queue (playlist, album, artist).
    pub context_uri: Option<String>,
    /// Item URIs.
    pub queue: Vec<String>,
    /// Current position in the queue.
    pub index: usize,
    /// Progress at `updated_ms`.
    progress_ms: u64,
    /// Sandbox time of the last change, in epoch milliseconds.
    pub updated_ms: i64,
    /// Shuffle state.
    pub shuffle: bool,
    /// Repeat state.
    pub repeat: String,
    /// An ad plays in place of the current item.
    pub ad: bool,
}

/// The optional JSON body of `PUT /v1/me/player/play`.
#[derive(Debug, Default, Deserialize)]
pub struct PlayBody {
    /// Context to play.
    #[serde(default)]
    pub context_uri: Option<String>,
    /// Items to play.
    #[serde(default)]
    pub uris: Option<Vec<String>>,
    /// Where in the context or items to start.
    #[serde(default)]
    pub offset: Option<PlayOffset>,
    /// Where in the item to start.
    #[serde(default)]
    pub position_ms: Option<u64>,
}

/// `offset` of a play request: by position or by URI.
#[derive(Debug, Deserialize)]
pub struct PlayOffset {
    /// Zero-based position.
    #[serde(default)]
    pub position: Option<usize>,
    /// URI of the item to start at.
    #[serde(default)]
    pub uri: Option<String>,
}

/// The body of `PUT /v1/me/player` (transfer).
#[derive(Debug, Deserialize)]
pub struct TransferBody {
    /// Exactly one device id.
    pub device_ids: Vec<String>,
    /// Whether to start playing.
    #[serde(default)]
    pub play: Option<bool>,
}

impl Player {
    /// A player as a seed describes it, as of `now_ms`.
    pub fn from_seed(seed: &PlayerSeed, now_ms: i64) -> Self {
        Self {
            device_id: seed.device_id.clone(),
            is_playing: seed.is_playing && seed.device_id.is_some(),
            context_uri: seed.context_uri.clone(),
            queue: seed.queue.clone(),
            index: seed.index.min(seed.queue.len().saturating_sub(1)),
            progress_ms: seed.progress_ms,
            updated_ms: now_ms,
            shuffle: seed.shuffle,
            repeat: if seed.repeat.is_empty() {
                "off".to_owned()
            } else {
                seed.repeat.clone()
            },
            ad: seed.ad,
        }
    }

    /// URI of the current item.
    pub fn current_uri(&self) -> Option<&str> {
        self.queue.get(self.index).map(String::as_str)
    }

    /// Progress at `now_ms` for an item lasting `duration_ms`.
    pub fn progress_at(&self, now_ms: i64, duration_ms: u64) -> u64 {
        let elapsed = if self.is_playing {
            u64::try_from(now_ms.saturating_sub(self.updated_ms)).unwrap_or(0)
        } else {
            0
        };
        self.progress_ms.saturating_add(elapsed).min(duration_ms)
    }

    /// This player as a seed (what `GET /sandbox/users/{id}/player` answers).
    pub fn to_seed(&self, now_ms: i64, duration_ms: u64) -> PlayerSeed {
        PlayerSeed {
            device_id: self.device_id.clone(),
            is_playing: self.is_playing,
            context_uri: self.context_uri.clone(),
            queue: self.queue.clone(),
            index: self.index,
            progress_ms: self.progress_at(now_ms, duration_ms),
            shuffle: self.shuffle,
            repeat: self.repeat.clone(),
            ad: self.ad,
        }
    }

    fn set_progress(&mut self, progress_ms: u64, now_ms: i64) {
        self.progress_ms = progress_ms;
        self.updated_ms = now_ms;
    }
}

fn restriction_violated() -> SandboxError {
    SandboxError::player(
        StatusCode::FORBIDDEN,
        "Player command failed: Restriction violated",
        "UNKNOWN",
    )
}

fn current_duration(user: &User) -> u64 {
    user.current_item().map_or(0, |item| item.duration_ms())
}

/// Checks Premium and picks the device a command targets (activating `device_id` when given).
fn target(user: &mut User, device_id: Option<&str>, now_ms: i64) -> Result<(), SandboxError> {
    if user.product != Product::Premium {
        return Err(SandboxError::player(
            StatusCode::FORBIDDEN,
            "Player command failed: Premium required",
            "PREMIUM_REQUIRED",
        ));
    }
    match device_id {
        Some(id) => {
            if user.device(id).is_none() {
                return Err(SandboxError::not_found("Device not found"));
            }
            if user.player.device_id.as_deref() != Some(id) {
                freeze(user, now_ms);
                user.player.device_id = Some(id.to_owned());
                user.sync_active_flags();
            }
            Ok(())
        }
        None if user.player.device_id.is_some() => Ok(()),
        None => Err(SandboxError::player(
            StatusCode::NOT_FOUND,
            "Player command failed: No active device found",
            "NO_ACTIVE_DEVICE",
        )),
    }
}

/// Stores the progress reached so far, so that a state change starts from it.
fn freeze(user: &mut User, now_ms: i64) {
    let progress = user.player.progress_at(now_ms, current_duration(user));
    user.player.set_progress(progress, now_ms);
}

fn context_tracks(user: &User, context_uri: &str) -> Result<Vec<String>, SandboxError> {
    let mut parts = context_uri.splitn(3, ':');
    let (Some("spotify"), Some(kind), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SandboxError::bad_request("Invalid context uri"));
    };
    let uris: Vec<String> = match kind {
        "playlist" => user
            .playlist(id)
            .map(|p| p.tracks.iter().map(|t| t.uri.clone()).collect())
            .unwrap_or_default(),
        "album" => user
            .tracks
            .iter()
            .filter(|t| t.album_id == id)
            .map(|t| t.uri.clone())
            .collect(),
        "artist" => user
            .tracks
            .iter()
            .filter(|t| t.artist_id == id)
            .map(|t| t.uri.clone())
            .collect(),
        "show" => user
            .episodes
            .iter()
            .filter(|e| e.show_id == id)
            .map(|e| e.uri.clone())
            .collect(),
        _ => return Err(SandboxError::bad_request("Invalid context uri")),
    };
    if uris.is_empty() {
        return Err(SandboxError::not_found("Not found."));
    }
    Ok(uris)
}

fn offset_index(queue: &[String], offset: Option<&PlayOffset>) -> Result<usize, SandboxError> {
    let Some(offset) = offset else { return Ok(0) };
    if let Some(position) = offset.position {
        return if position < queue.len() {
            Ok(position)
        } else {
            Err(SandboxError::bad_request("Invalid offset"))
        };
    }
    if let Some(uri) = &offset.uri {
        return queue
            .iter()
            .position(|u| u == uri)
            .ok_or_else(|| SandboxError::bad_request("Invalid offset"));
    }
    Ok(0)
}

/// `PUT /v1/me/player/play`: start a context or items, or resume.
pub fn play(
    user: &mut User,
    device_id: Option<&str>,
    body: PlayBody,
    now_ms: i64,
) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    let new_queue = if let Some(context_uri) = &body.context_uri {
        Some((
            context_tracks(user, context_uri)?,
            Some(context_uri.clone()),
        ))
    } else if let Some(uris) = body.uris {
        if let Some(bad) = uris
            .iter()
            .find(|u| !u.starts_with("spotify:track:") && !u.starts_with("spotify:episode:"))
        {
            return Err(SandboxError::bad_request(format!(
                "Invalid track uri: {bad}"
            )));
        }
        if uris.is_empty() {
            return Err(SandboxError::bad_request("Invalid track uri: "));
        }
        user.ensure_items(&uris);
        Some((uris, None))
    } else {
        None
    };
    match new_queue {
        Some((queue, context_uri)) => {
            let index = offset_index(&queue, body.offset.as_ref())?;
            user.player.queue = queue;
            user.player.context_uri = context_uri;
            user.player.index = index;
            user.player
                .set_progress(body.position_ms.unwrap_or(0), now_ms);
        }
        None => {
            if user.player.current_uri().is_none() {
                return Err(restriction_violated());
            }
            freeze(user, now_ms);
            if let Some(position) = body.position_ms {
                user.player.set_progress(position, now_ms);
            }
        }
    }
    user.player.is_playing = true;
    Ok(())
}

/// `PUT /v1/me/player/pause`: pausing a paused player is a restriction violation, as at Spotify.
pub fn pause(user: &mut User, device_id: Option<&str>, now_ms: i64) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    if !user.player.is_playing {
        return Err(restriction_violated());
    }
    freeze(user, now_ms);
    user.player.is_playing = false;
    Ok(())
}

/// `POST /v1/me/player/next` and `previous`: move through the queue (wrapping at the ends) and play;
/// during an ad, a restriction violation, as at Spotify.
pub fn skip(
    user: &mut User,
    device_id: Option<&str>,
    forward: bool,
    now_ms: i64,
) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    let len = user.player.queue.len();
    if len == 0 || user.player.ad {
        return Err(restriction_violated());
    }
    let index = user.player.index;
    user.player.index = if forward {
        (index + 1) % len
    } else {
        index.checked_sub(1).unwrap_or(len - 1)
    };
    user.player.set_progress(0, now_ms);
    user.player.is_playing = true;
    Ok(())
}

/// `PUT /v1/me/player`: transfer playback to one device, optionally starting it.
pub fn transfer(user: &mut User, body: TransferBody, now_ms: i64) -> Result<(), SandboxError> {
    let [device_id] = body.device_ids.as_slice() else {
        return Err(SandboxError::bad_request("Only one device_id is supported"));
    };
    target(user, Some(device_id), now_ms)?;
    if body.play == Some(true) && user.player.current_uri().is_some() {
        freeze(user, now_ms);
        user.player.is_playing = true;
    }
    Ok(())
}

/// `PUT /v1/me/player/volume`: the target device's volume; a device that reports no volume refuses.
pub fn volume(
    user: &mut User,
    device_id: Option<&str>,
    percent: u8,
    now_ms: i64,
) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    let active = user.player.device_id.clone();
    let device = user
        .devices
        .iter_mut()
        .find(|d| Some(&d.id) == active.as_ref())
        .ok_or_else(|| SandboxError::not_found("Device not found"))?;
    if device.volume_percent.is_none() {
        return Err(SandboxError::player(
            StatusCode::FORBIDDEN,
            "Player command failed: Cannot control device volume",
            "VOLUME_CONTROL_DISALLOW",
        ));
    }
    device.volume_percent = Some(percent);
    Ok(())
}

/// `PUT /v1/me/player/shuffle`.
pub fn shuffle(
    user: &mut User,
    device_id: Option<&str>,
    on: bool,
    now_ms: i64,
) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    user.player.shuffle = on;
    Ok(())
}

/// `PUT /v1/me/player/repeat` with `track`, `context` or `off`.
pub fn repeat(
    user: &mut User,
    device_id: Option<&str>,
    state: &str,
    now_ms: i64,
) -> Result<(), SandboxError> {
    target(user, device_id, now_ms)?;
    user.player.repeat = state.to_owned();
    Ok(())
}

/// `POST /v1/me/player/queue`: the item plays next, after the current one.
pub fn enqueue(
    user: &mut User,
    device_id: Option<&str>,
    uri: &str,
    now_ms: i64,
) -> Result<(), SandboxError> {
    if !uri.starts_with("spotify:track:") && !uri.starts_with("spotify:episode:") {
        return Err(SandboxError::bad_request("Invalid track uri"));
    }
    target(user, device_id, now_ms)?;
    user.ensure_items(&[uri.to_owned()]);
    let at = if user.player.queue.is_empty() {
        0
    } else {
        user.player.index + 1
    };
    user.player.queue.insert(at, uri.to_owned());
    Ok(())
}
