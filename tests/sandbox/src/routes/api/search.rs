//! `GET /v1/search`: searches the user's own catalog (tracks, artists, albums, playlists, shows,
//! episodes).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::SandboxError;
use crate::routes::api::etag::conditional_json;
use crate::routes::api::objects;
use crate::routes::api::request::{bearer, int_param};
use crate::state::Sandbox;
use crate::state::users::User;

/// Query of `GET /v1/search`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

const KINDS: &[&str] = &[
    "album",
    "artist",
    "playlist",
    "track",
    "show",
    "episode",
    "audiobook",
];

fn matches(haystack: &str, terms: &[String]) -> bool {
    let haystack = haystack.to_lowercase();
    terms.iter().all(|t| haystack.contains(t.as_str()))
}

fn hits(base: &str, user: &User, kind: &str, terms: &[String]) -> Vec<Value> {
    match kind {
        "track" => user
            .tracks
            .iter()
            .filter(|t| matches(&format!("{} {} {}", t.name, t.artist, t.album), terms))
            .map(|t| objects::track(base, t))
            .collect(),
        "artist" => {
            let mut artists = BTreeMap::new();
            for t in user.tracks.iter().filter(|t| matches(&t.artist, terms)) {
                artists
                    .entry(t.artist_id.as_str())
                    .or_insert(t.artist.as_str());
            }
            artists
                .into_iter()
                .map(|(id, name)| objects::artist(base, id, name))
                .collect()
        }
        "album" => {
            let mut albums = BTreeMap::new();
            for t in user
                .tracks
                .iter()
                .filter(|t| matches(&format!("{} {}", t.album, t.artist), terms))
            {
                albums.entry(t.album_id.as_str()).or_insert((t, 0usize)).1 += 1;
            }
            albums
                .into_values()
                .map(|(t, n)| objects::simplified_album(base, t, n))
                .collect()
        }
        "playlist" => user
            .playlists
            .iter()
            .filter(|p| matches(&format!("{} {}", p.name, p.description), terms))
            .map(|p| objects::simplified_playlist(base, p, user))
            .collect(),
        "show" => {
            let mut shows = BTreeMap::new();
            for e in user
                .episodes
                .iter()
                .filter(|e| matches(&format!("{} {}", e.show, e.publisher), terms))
            {
                shows.entry(e.show_id.as_str()).or_insert(e);
            }
            shows
                .into_values()
                .map(|e| objects::simplified_show(base, e))
                .collect()
        }
        "episode" => user
            .episodes
            .iter()
            .filter(|e| matches(&format!("{} {}", e.name, e.show), terms))
            .map(|e| objects::episode(base, e))
            .collect(),
        _ => Vec::new(),
    }
}

/// Search results keyed `tracks`, `artists`, ... (one PagingObject per requested type).
pub async fn search(
    req: HttpRequest,
    query: web::Query<SearchQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, SandboxError> {
    let token = bearer(&req)?;
    let q = query
        .q
        .as_deref()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| SandboxError::bad_request("No search query"))?;
    let kinds = query
        .kind
        .as_deref()
        .ok_or_else(|| SandboxError::bad_request("Missing parameter type"))?;
    let kinds: Vec<&str> = kinds.split(',').map(str::trim).collect();
    if kinds.iter().any(|k| !KINDS.contains(k)) {
        return Err(SandboxError::bad_request("Bad search type field"));
    }
    let limit = int_param(query.limit.as_deref(), "limit", 5, 0, 50)?.max(1);
    let offset = int_param(query.offset.as_deref(), "offset", 0, 0, 1000)?;
    let terms: Vec<String> = q
        .split_whitespace()
        .filter(|t| !t.contains(':'))
        .map(str::to_lowercase)
        .collect();
    let now_s = sandbox.clock.now_s();
    let base = &sandbox.base_url;
    let endpoint = format!("{base}/v1/search");
    let encoded_q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let value = {
        let mut world = sandbox.world();
        let user = &*world.api_user(token, &[], now_s)?.user;
        let mut out = Map::new();
        for kind in kinds {
            let all = hits(base, user, kind, &terms);
            let total = all.len();
            let items = all.into_iter().skip(offset).take(limit).collect();
            let extra = format!("query={encoded_q}&type={kind}&");
            out.insert(
                format!("{kind}s"),
                objects::paging(&endpoint, &extra, items, offset, limit, total),
            );
        }
        Value::Object(out)
    };
    conditional_json(&req, &value)
}
