//! `GET /v1/me/playlists`: the user's playlists, paged, with an ETag.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::SandboxError;
use crate::routes::api::etag::conditional_json;
use crate::routes::api::objects;
use crate::routes::api::request::{bearer, int_param};
use crate::state::Sandbox;

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
