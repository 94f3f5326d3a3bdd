//! `GET /v1/me/playlists` and a playlist's items: paged, with an ETag.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::SandboxError;
use crate::routes::api::etag::conditional_json;
use crate::routes::api::objects;
use crate::routes::api::request::{bearer, int_param};
use crate::state::Sandbox;
use crate::state::app::AppMode;

/// Query of `GET /v1/me/playlists`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    offset: Option<String>,
}

/// PagingPlaylistObject of the user's playlists (`limit` 1–50, default 20; `offset` up to 100000).
pub async fn my_playlists(
    req: HttpRequest,
    query: web::Query<PageQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let limit = int_param(query.limit.as_deref(), "limit", 20, 1, 50)?;
    let offset = int_param(query.offset.as_deref(), "offset", 0, 0, 100_000)?;
    let now_s = sandbox.clock.now_s();
    let base = &sandbox.base_url;
    let value = {
        let mut world = sandbox.world();
        let caller = world.api_user(token, &["playlist-read-private"], now_s)?;
        let user = &*caller.user;
        let items = user
            .playlists
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| objects::simplified_playlist(base, p, user))
            .collect();
        objects::paging(
            &format!("{base}/v1/me/playlists"),
            "",
            items,
            offset,
            limit,
            user.playlists.len(),
        )
    };
    conditional_json(&req, &value)
}

/// Query of `GET /v1/playlists/{id}/items`.
#[derive(Debug, Deserialize)]
pub struct ItemsQuery {
    limit: Option<String>,
    offset: Option<String>,
}

/// `GET /v1/playlists/{id}/items` (February 2026): PagingPlaylistTrackObject of one of the user's
/// playlists, each entry with `item` (and the deprecated `track`).
pub async fn playlist_items(
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ItemsQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    items(&req, &id, &query, &sandbox, "items")
}

/// `GET /v1/playlists/{id}/tracks`: gone for development-mode apps since March 2026 (403 "Forbidden",
/// as Spotify answers it); an extended-quota app still gets the items.
pub async fn playlist_tracks(
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<ItemsQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    items(&req, &id, &query, &sandbox, "tracks")
}

fn items(
    req: &HttpRequest,
    id: &str,
    query: &ItemsQuery,
    sandbox: &Sandbox,
    endpoint: &str,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(req)?;
    let limit = int_param(query.limit.as_deref(), "limit", 20, 1, 50)?;
    let offset = int_param(query.offset.as_deref(), "offset", 0, 0, 100_000)?;
    let now_s = sandbox.clock.now_s();
    let base = &sandbox.base_url;
    let value = {
        let mut world = sandbox.world();
        let development = world.app.mode == AppMode::Development;
        let caller = world.api_user(token, &[], now_s)?;
        if endpoint == "tracks" && development {
            return Err(SandboxError::api(StatusCode::FORBIDDEN, "Forbidden"));
        }
        let user = &*caller.user;
        let playlist = user
            .playlist(id)
            .ok_or_else(|| SandboxError::not_found("Resource not found"))?;
        if !playlist.public && !caller.scopes.iter().any(|s| s == "playlist-read-private") {
            return Err(SandboxError::api(
                StatusCode::FORBIDDEN,
                "Insufficient client scope",
            ));
        }
        let entries = playlist
            .tracks
            .iter()
            .skip(offset)
            .take(limit)
            .map(|t| objects::playlist_entry(base, t, user))
            .collect();
        objects::paging(
            &format!("{base}/v1/playlists/{id}/{endpoint}"),
            "",
            entries,
            offset,
            limit,
            playlist.tracks.len(),
        )
    };
    conditional_json(req, &value)
}
