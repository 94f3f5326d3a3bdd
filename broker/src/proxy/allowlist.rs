//! The Spotify endpoints the broker forwards, matched exactly: anything else is `not_found` before any
//! upstream call, so the broker is never an open proxy.

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

const ALLOWLIST: [(&str, &str, Endpoint); 11] = [
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
];

impl Endpoint {
    /// Every allowlisted endpoint: method, path below `/v1/spotify`, endpoint.
    pub fn allowlist() -> &'static [(&'static str, &'static str, Endpoint)] {
        &ALLOWLIST
    }

    /// The endpoint for a method and the exact path below `/v1/spotify` (no decoding, no normalizing:
    /// `%2e`, `..`, `//` and trailing slashes simply do not match).
    pub fn resolve(method: &Method, path: &str) -> Option<Self> {
        ALLOWLIST
            .iter()
            .find(|(m, p, _)| *m == method.as_str() && *p == path)
            .map(|(_, _, endpoint)| *endpoint)
    }

    /// Caching for reads; writes are never cached.
    pub fn cache_policy(self, fresh: &Freshness) -> Option<CachePolicy> {
        match self {
            Self::Me => Some(policy(fresh.me, 86_400, false)),
            Self::Playlists => Some(policy(fresh.playlists, 3_600, true)),
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
            Self::TransferPlayback | Self::Play | Self::Pause | Self::Next | Self::Previous
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
        ] {
            assert_eq!(Endpoint::resolve(&method, path), None, "{method} {path}");
        }
    }

    proptest! {
        #[test]
        fn only_listed_paths_resolve(path in "[/a-z%.\\-]{0,40}") {
            let listed = ALLOWLIST.iter().any(|(_, p, _)| *p == path);
            prop_assert_eq!(Endpoint::resolve(&Method::GET, &path).is_some(), listed && ALLOWLIST.iter().any(|(m, p, _)| *m == "GET" && *p == path));
        }
    }
}
