//! Spotify's JSON object shapes (TrackObject, EpisodeObject, DeviceObject, ...) rendered from sandbox data.

use serde_json::{Value, json};

use crate::seed::DeviceSeed;
use crate::state::users::{Episode, Item, Playlist, Track, User};

fn open_url(kind: &str, id: &str) -> Value {
    json!({ "spotify": format!("https://open.spotify.com/{kind}/{id}") })
}

fn cover(id: &str) -> Value {
    json!([{ "url": format!("https://i.scdn.co/image/{id}"), "height": 640, "width": 640 }])
}

/// SimplifiedArtistObject.
pub fn simplified_artist(base: &str, id: &str, name: &str) -> Value {
    json!({
        "external_urls": open_url("artist", id),
        "href": format!("{base}/v1/artists/{id}"),
        "id": id,
        "name": name,
        "type": "artist",
        "uri": format!("spotify:artist:{id}"),
    })
}

/// ArtistObject.
pub fn artist(base: &str, id: &str, name: &str) -> Value {
    json!({
        "external_urls": open_url("artist", id),
        "followers": { "href": null, "total": 1000 },
        "genres": [],
        "href": format!("{base}/v1/artists/{id}"),
        "id": id,
        "images": cover(id),
        "name": name,
        "popularity": 50,
        "type": "artist",
        "uri": format!("spotify:artist:{id}"),
    })
}

/// SimplifiedAlbumObject of a track's album.
pub fn simplified_album(base: &str, track: &Track, total_tracks: usize) -> Value {
    let id = &track.album_id;
    json!({
        "album_type": "album",
        "total_tracks": total_tracks,
        "available_markets": ["US", "GB", "DE"],
        "external_urls": open_url("album", id),
        "href": format!("{base}/v1/albums/{id}"),
        "id": id,
        "images": cover(id),
        "name": track.album,
        "release_date": "2001-01-01",
        "release_date_precision": "day",
        "type": "album",
        "uri": format!("spotify:album:{id}"),
        "artists": [simplified_artist(base, &track.artist_id, &track.artist)],
    })
}

/// TrackObject.
pub fn track(base: &str, track: &Track) -> Value {
    let id = &track.id;
    json!({
        "album": simplified_album(base, track, 1),
        "artists": [simplified_artist(base, &track.artist_id, &track.artist)],
        "available_markets": ["US", "GB", "DE"],
        "disc_number": 1,
        "duration_ms": track.duration_ms,
        "explicit": false,
        "external_ids": { "isrc": "USSB00000001" },
        "external_urls": open_url("track", id),
        "href": format!("{base}/v1/tracks/{id}"),
        "id": id,
        "is_playable": true,
        "name": track.name,
        "popularity": 50,
        "preview_url": null,
        "track_number": 1,
        "type": "track",
        "uri": track.uri,
        "is_local": false,
    })
}

/// SimplifiedShowObject of an episode's show.
pub fn simplified_show(base: &str, episode: &Episode) -> Value {
    let id = &episode.show_id;
    json!({
        "available_markets": ["US", "GB", "DE"],
        "copyrights": [],
        "description": format!("{} by {}", episode.show, episode.publisher),
        "html_description": format!("<p>{} by {}</p>", episode.show, episode.publisher),
        "explicit": false,
        "external_urls": open_url("show", id),
        "href": format!("{base}/v1/shows/{id}"),
        "id": id,
        "images": cover(id),
        "is_externally_hosted": false,
        "languages": ["en"],
        "media_type": "audio",
        "name": episode.show,
        "publisher": episode.publisher,
        "type": "show",
        "uri": format!("spotify:show:{id}"),
        "total_episodes": 1,
    })
}

/// EpisodeObject (with its show).
pub fn episode(base: &str, episode: &Episode) -> Value {
    let id = &episode.id;
    json!({
        "audio_preview_url": null,
        "description": episode.name,
        "html_description": format!("<p>{}</p>", episode.name),
        "duration_ms": episode.duration_ms,
        "explicit": false,
        "external_urls": open_url("episode", id),
        "href": format!("{base}/v1/episodes/{id}"),
        "id": id,
        "images": cover(id),
        "is_externally_hosted": false,
        "is_playable": true,
        "language": "en",
        "languages": ["en"],
        "name": episode.name,
        "release_date": "2024-01-01",
        "release_date_precision": "day",
        "resume_point": { "fully_played": false, "resume_position_ms": 0 },
        "type": "episode",
        "uri": episode.uri,
        "show": simplified_show(base, episode),
    })
}

/// TrackObject or EpisodeObject, with the matching `currently_playing_type`.
pub fn item(base: &str, item: &Item) -> (Value, &'static str) {
    match item {
        Item::Track(t) => (track(base, t), "track"),
        Item::Episode(e) => (episode(base, e), "episode"),
    }
}

/// DeviceObject.
pub fn device(device: &DeviceSeed) -> Value {
    json!({
        "id": device.id,
        "is_active": device.is_active,
        "is_private_session": false,
        "is_restricted": false,
        "name": device.name,
        "type": device.kind,
        "volume_percent": device.volume_percent,
        "supports_volume": device.volume_percent.is_some(),
    })
}

/// ContextObject for a context URI (`spotify:<type>:<id>`).
pub fn context(base: &str, uri: &str) -> Value {
    let mut parts = uri.splitn(3, ':');
    let kind = parts.nth(1).unwrap_or("playlist");
    let id = parts.next().unwrap_or("");
    json!({
        "type": kind,
        "href": format!("{base}/v1/{kind}s/{id}"),
        "external_urls": open_url(kind, id),
        "uri": uri,
    })
}

/// PlaylistOwnerObject for a user.
pub fn owner(base: &str, user: &User) -> Value {
    json!({
        "external_urls": open_url("user", &user.id),
        "href": format!("{base}/v1/users/{}", user.id),
        "id": user.id,
        "type": "user",
        "uri": format!("spotify:user:{}", user.id),
        "display_name": user.display_name,
    })
}

/// SimplifiedPlaylistObject (with both the current `items` and the older `tracks` reference).
pub fn simplified_playlist(base: &str, playlist: &Playlist, user: &User) -> Value {
    let id = &playlist.id;
    let total = playlist.tracks.len();
    let items_ref = json!({ "href": format!("{base}/v1/playlists/{id}/items"), "total": total });
    let tracks_ref = json!({ "href": format!("{base}/v1/playlists/{id}/tracks"), "total": total });
    json!({
        "collaborative": playlist.collaborative,
        "description": playlist.description,
        "external_urls": open_url("playlist", id),
        "href": format!("{base}/v1/playlists/{id}"),
        "id": id,
        "images": cover(id),
        "name": playlist.name,
        "owner": owner(base, user),
        "public": playlist.public,
        "snapshot_id": playlist.snapshot_id,
        "items": items_ref,
        "tracks": tracks_ref,
        "type": "playlist",
        "uri": playlist.uri,
    })
}

/// PlaylistTrackObject: the track as `item`, and again as the deprecated `track` Spotify still sends.
pub fn playlist_entry(base: &str, entry: &Track, user: &User) -> Value {
    let item = track(base, entry);
    json!({
        "added_at": "2024-01-01T00:00:00Z",
        "added_by": {
            "external_urls": open_url("user", &user.id),
            "href": format!("{base}/v1/users/{}", user.id),
            "id": user.id,
            "type": "user",
            "uri": format!("spotify:user:{}", user.id),
        },
        "is_local": false,
        "item": item.clone(),
        "track": item,
    })
}

/// PrivateUserObject; `country`, `product` and `explicit_content` need `user-read-private`, `email` needs
/// `user-read-email`, as at Spotify.
pub fn private_user(base: &str, user: &User, scopes: &[String]) -> Value {
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    let mut value = json!({
        "account_id": user.account_id,
        "display_name": user.display_name,
        "external_urls": open_url("user", &user.id),
        "followers": { "href": null, "total": 0 },
        "href": format!("{base}/v1/users/{}", user.id),
        "id": user.id,
        "images": [],
        "type": "user",
        "uri": format!("spotify:user:{}", user.id),
    });
    if let Some(map) = value.as_object_mut() {
        if has("user-read-private") {
            map.insert("country".to_owned(), json!(user.country));
            map.insert("product".to_owned(), json!(user.product.as_str()));
            map.insert(
                "explicit_content".to_owned(),
                json!({ "filter_enabled": false, "filter_locked": false }),
            );
        }
        if has("user-read-email") {
            map.insert("email".to_owned(), json!(user.email));
        }
    }
    value
}

/// A PagingObject over `items`, whose links are `{endpoint}?…offset=…&limit=…` (`extra` is prepended query).
pub fn paging(
    endpoint: &str,
    extra: &str,
    items: Vec<Value>,
    offset: usize,
    limit: usize,
    total: usize,
) -> Value {
    let link = |offset: usize| format!("{endpoint}?{extra}offset={offset}&limit={limit}");
    let next = (offset + limit < total).then(|| link(offset + limit));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    json!({
        "href": link(offset),
        "items": items,
        "limit": limit,
        "next": next,
        "offset": offset,
        "previous": previous,
        "total": total,
    })
}
