//! The Spotify endpoints the broker forwards, matched exactly (one path parameter, a playlist id, is
//! matched as exactly 22 base-62 characters): anything else is `not_found` before any upstream call, so
//! the broker is never an open proxy.

use std::time::Duration;

use actix_web::http::Method;

use crate::config::Freshness;

/// One allowlisted Spotify endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Me,
    Player,
    CurrentlyPlaying,
    Devices,
    TransferPlayback,
    Playlists,
    Play,
    Pause,
    Next,
    Previous,
    Search,
    Volume,
    Shuffle,
    Repeat,
    Queue,
    PlaylistItems,
}

/// How long an answer stays fresh, how long it may still be served when Spotify fails or time runs
/// out, and whether a stale entry is revalidated with its `ETag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub fresh: Duration,
    pub stale: Duration,
    pub revalidate: bool,
}

const fn policy(fresh_s: u64, stale_s: u64, revalidate: bool) -> CachePolicy {
    CachePolicy {
        fresh: Duration::from_secs(fresh_s),
        stale: Duration::from_secs(stale_s),
        revalidate,
    }
}

const ALLOWLIST: [(&str, &str, Endpoint); 16] = [
    ("GET", "/me", Endpoint::Me),
    ("GET", "/me/player", Endpoint::Player),
    (
        "GET",
        "/me/player/currently-playing",
        Endpoint::CurrentlyPlaying,
    ),
    ("GET", "/me/player/devices", Endpoint::Devices),
    ("PUT", "/me/player", Endpoint::TransferPlayback),
    ("GET", "/me/playlists", Endpoint::Playlists),
    ("PUT", "/me/player/play", Endpoint::Play),
    ("PUT", "/me/player/pause", Endpoint::Pause),
    ("POST", "/me/player/next", Endpoint::Next),
    ("POST", "/me/player/previous", Endpoint::Previous),
    ("GET", "/search", Endpoint::Search),
    ("PUT", "/me/player/volume", Endpoint::Volume),
    ("PUT", "/me/player/shuffle", Endpoint::Shuffle),
    ("PUT", "/me/player/repeat", Endpoint::Repeat),
    ("POST", "/me/player/queue", Endpoint::Queue),
    // `{id}` stands for one Spotify id segment: exactly 22 characters of [A-Za-z0-9].
    ("GET", "/playlists/{id}/items", Endpoint::PlaylistItems),
];

/// Whether `path` is `pattern` with `{id}` standing for one Spotify id. (The placeholder is found by its
/// first character: a search for a whole string set up a searcher per pattern tried, about 200
/// instructions each on every call.)
fn matches(pattern: &str, path: &str) -> bool {
    match pattern
        .split_once('{')
        .and_then(|(before, rest)| Some((before, rest.strip_prefix("id}")?)))
    {
        None => pattern == path,
        Some((before, after)) => path
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(is_spotify_id),
    }
}

/// A Spotify id: 22 base-62 characters.
fn is_spotify_id(segment: &str) -> bool {
    segment.len() == 22 && segment.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Endpoint {
    /// A stable name for metrics: the method and path template.
    pub fn name(self) -> &'static str {
        match self {
            Self::Me => "GET /me",
            Self::Player => "GET /me/player",
            Self::CurrentlyPlaying => "GET /me/player/currently-playing",
            Self::Devices => "GET /me/player/devices",
            Self::TransferPlayback => "PUT /me/player",
            Self::Playlists => "GET /me/playlists",
            Self::Play => "PUT /me/player/play",
            Self::Pause => "PUT /me/player/pause",
            Self::Next => "POST /me/player/next",
            Self::Previous => "POST /me/player/previous",
            Self::Search => "GET /search",
            Self::Volume => "PUT /me/player/volume",
            Self::Shuffle => "PUT /me/player/shuffle",
            Self::Repeat => "PUT /me/player/repeat",
            Self::Queue => "POST /me/player/queue",
            Self::PlaylistItems => "GET /playlists/{id}/items",
        }
    }

    /// Every allowlisted endpoint: method, path below `/v1/spotify`, endpoint.
    pub fn allowlist() -> &'static [(&'static str, &'static str, Endpoint)] {
        &ALLOWLIST
    }

    /// The endpoint for a method and the exact path below `/v1/spotify` (no decoding, no normalizing:
    /// `%2e`, `..`, `//` and trailing slashes simply do not match).
    pub fn resolve(method: &Method, path: &str) -> Option<Self> {
        ALLOWLIST
            .iter()
            .find(|(m, p, _)| *m == method.as_str() && matches(p, path))
            .map(|(_, _, endpoint)| *endpoint)
    }

    /// Caching for reads; writes are never cached.
    pub fn cache_policy(self, fresh: &Freshness) -> Option<CachePolicy> {
        match self {
            Self::Me => Some(policy(fresh.me, 86_400, false)),
            Self::Playlists | Self::PlaylistItems => Some(policy(fresh.playlists, 3_600, true)),
            Self::Search => Some(policy(fresh.search, 600, false)),
            Self::Player | Self::CurrentlyPlaying | Self::Devices => {
                Some(policy(fresh.player, 300, false))
            }
            _ => None,
        }
    }

    /// Player commands make cached player state wrong.
    pub fn changes_player(self) -> bool {
        matches!(
            self,
            Self::TransferPlayback
                | Self::Play
                | Self::Pause
                | Self::Next
                | Self::Previous
                | Self::Volume
                | Self::Shuffle
                | Self::Repeat
                | Self::Queue
        )
    }

    /// Cache entries of player state, dropped after a player command.
    pub fn is_player_state(self) -> bool {
        matches!(self, Self::Player | Self::CurrentlyPlaying | Self::Devices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn metric_names_are_the_allowlist_entries() {
        for (method, path, endpoint) in Endpoint::allowlist() {
            assert_eq!(endpoint.name(), format!("{method} {path}"));
        }
    }

    #[test]
    fn exact_matches_only() {
        assert_eq!(
            Endpoint::resolve(&Method::GET, "/me/player"),
            Some(Endpoint::Player)
        );
        assert_eq!(
            Endpoint::resolve(&Method::PUT, "/me/player"),
            Some(Endpoint::TransferPlayback)
        );
        for (method, path) in [
            (Method::DELETE, "/me/player"),
            (Method::GET, "/me/player/"),
            (Method::GET, "/me//player"),
            (Method::GET, "/me/player/../../users/x"),
            (Method::GET, "/me/%70layer"),
            (Method::GET, "/users/someone"),
            (Method::POST, "/me/player/play"),
            (Method::GET, ""),
            (Method::GET, "/me/player/volume"),
            (Method::POST, "/me/player/volume"),
            (Method::GET, "/me/player/queue"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1ZJKYt/tracks"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1ZJKY/items"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1ZJKYtt/items"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1ZJK-t/items"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1Z%4Bt/items"),
            (Method::GET, "/playlists/../me/x/37i9dQZF1DX/items"),
            (Method::GET, "/playlists/37i9dQZF1DXbITWG1ZJKYt/items/"),
            (Method::GET, "/playlists/{id}/items"),
            (Method::PUT, "/playlists/37i9dQZF1DXbITWG1ZJKYt/items"),
        ] {
            assert_eq!(Endpoint::resolve(&method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn new_conversations_resolve() {
        for (method, path, endpoint) in [
            (Method::PUT, "/me/player/volume", Endpoint::Volume),
            (Method::PUT, "/me/player/shuffle", Endpoint::Shuffle),
            (Method::PUT, "/me/player/repeat", Endpoint::Repeat),
            (Method::POST, "/me/player/queue", Endpoint::Queue),
            (
                Method::GET,
                "/playlists/37i9dQZF1DXbITWG1ZJKYt/items",
                Endpoint::PlaylistItems,
            ),
        ] {
            assert_eq!(Endpoint::resolve(&method, path), Some(endpoint), "{path}");
            assert_eq!(
                endpoint.changes_player(),
                method != Method::GET,
                "player writes drop cached player state"
            );
        }
    }

    proptest! {
        #[test]
        fn a_playlist_segment_is_exactly_a_spotify_id(segment in "[A-Za-z0-9%./_-]{0,30}") {
            let path = format!("/playlists/{segment}/items");
            let expected = segment.len() == 22 && segment.chars().all(|c| c.is_ascii_alphanumeric());
            prop_assert_eq!(Endpoint::resolve(&Method::GET, &path).is_some(), expected);
        }


        #[test]
        fn only_listed_paths_resolve(path in "[/a-z%.\\-]{0,40}") {
            prop_assume!(!path.starts_with("/playlists/"));
            let listed = ALLOWLIST.iter().any(|(_, p, _)| *p == path);
            prop_assert_eq!(Endpoint::resolve(&Method::GET, &path).is_some(), listed && ALLOWLIST.iter().any(|(m, p, _)| *m == "GET" && *p == path));
        }
    }
}
