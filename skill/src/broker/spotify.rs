//! The Spotify Web API calls the conversation makes (through the broker), with the response shapes it reads.

use reqwest::Method;
use serde::Deserialize;

use super::client::{BrokerClient, ForUser};
use super::error::BrokerError;
use crate::deadline::Deadline;

/// What the user's player is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NowPlaying {
    /// Nothing (no player state, or no item).
    Nothing,
    /// A music track.
    Track {
        /// Track name.
        name: String,
        /// Artist names.
        artists: Vec<String>,
        /// Playing rather than paused.
        playing: bool,
    },
    /// A podcast episode.
    Episode {
        /// Episode name.
        name: String,
        /// Show name.
        show: Option<String>,
        /// Playing rather than paused.
        playing: bool,
    },
    /// An ad or something Spotify does not describe.
    Other {
        /// Playing rather than paused.
        playing: bool,
    },
}

#[derive(Debug, Deserialize)]
struct CurrentlyPlaying {
    #[serde(default)]
    is_playing: bool,
    #[serde(default)]
    currently_playing_type: Option<String>,
    #[serde(default)]
    item: Option<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    artists: Vec<Named>,
    #[serde(default)]
    show: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

/// One of the user's playlists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Playlist {
    /// Spotify id.
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// `spotify:playlist:…`, used to start it.
    pub uri: String,
}

#[derive(Debug, Deserialize)]
struct PlaylistPage {
    #[serde(default)]
    items: Vec<Option<serde_json::Value>>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    next: Option<String>,
}

/// The user's playlists, as far as they were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Playlists {
    /// In Spotify's order.
    pub items: Vec<Playlist>,
    /// How many the user has in all.
    pub total: u64,
}

/// Spotify calls on behalf of one user within one request's deadline.
#[derive(Debug, Clone, Copy)]
pub struct Spotify<'a> {
    broker: &'a BrokerClient,
    who: ForUser<'a>,
    deadline: Deadline,
}

fn unexpected(status: u16, detail: impl Into<String>) -> BrokerError {
    BrokerError::Unexpected {
        status,
        detail: detail.into(),
    }
}

impl<'a> Spotify<'a> {
    /// Calls for the user `who`.
    pub fn new(broker: &'a BrokerClient, who: ForUser<'a>, deadline: Deadline) -> Self {
        Self {
            broker,
            who,
            deadline,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<super::SpotifyReply, BrokerError> {
        self.broker
            .spotify(method, path, query, body, self.who, self.deadline)
            .await
    }

    /// `GET /me/player/currently-playing` (tracks and episodes).
    pub async fn now_playing(&self) -> Result<NowPlaying, BrokerError> {
        let reply = self
            .call(
                Method::GET,
                "me/player/currently-playing",
                &[("additional_types", "track,episode")],
                None,
            )
            .await?;
        let Some(body) = reply.body else {
            return Ok(NowPlaying::Nothing);
        };
        let current: CurrentlyPlaying = serde_json::from_value(body)
            .map_err(|e| unexpected(reply.status, format!("currently playing: {e}")))?;
        let playing = current.is_playing;
        let Some(item) = current.item else {
            return Ok(match current.currently_playing_type.as_deref() {
                Some("ad") => NowPlaying::Other { playing },
                _ => NowPlaying::Nothing,
            });
        };
        let kind = item
            .kind
            .as_deref()
            .or(current.currently_playing_type.as_deref());
        let name = item.name.unwrap_or_default();
        Ok(match kind {
            Some("episode") => NowPlaying::Episode {
                name,
                show: item.show.and_then(|s| s.name),
                playing,
            },
            _ if name.trim().is_empty() => NowPlaying::Other { playing },
            _ => NowPlaying::Track {
                name,
                artists: item.artists.into_iter().filter_map(|a| a.name).collect(),
                playing,
            },
        })
    }

    /// `GET /me/playlists`, reading up to `max` playlists (50 a page) while time allows.
    pub async fn playlists(&self, max: usize) -> Result<Playlists, BrokerError> {
        let mut result = Playlists::default();
        let mut offset = 0usize;
        loop {
            let (limit, offset_text) = ("50".to_owned(), offset.to_string());
            let reply = self
                .call(
                    Method::GET,
                    "me/playlists",
                    &[("limit", &limit), ("offset", &offset_text)],
                    None,
                )
                .await?;
            let status = reply.status;
            let body = reply
                .body
                .ok_or_else(|| unexpected(status, "playlists without a body"))?;
            let page: PlaylistPage = serde_json::from_value(body)
                .map_err(|e| unexpected(status, format!("playlists: {e}")))?;
            let page_len = page.items.len();
            // Spotify sometimes sends null or partial items; skip what cannot be played.
            result.items.extend(
                page.items
                    .into_iter()
                    .flatten()
                    .filter_map(|v| serde_json::from_value::<Playlist>(v).ok()),
            );
            result.total = page.total.unwrap_or(result.items.len() as u64);
            offset += page_len;
            let more = page.next.is_some() && page_len > 0;
            let time_left = self.deadline.remaining() > std::time::Duration::from_millis(1500);
            if !more || offset >= max || !time_left {
                break;
            }
        }
        result.total = result.total.max(result.items.len() as u64);
        Ok(result)
    }

    /// `PUT /me/player/play` with a playlist as context.
    pub async fn play_playlist(&self, playlist: &Playlist) -> Result<(), BrokerError> {
        let body = serde_json::json!({"context_uri": playlist.uri});
        self.call(Method::PUT, "me/player/play", &[], Some(&body))
            .await
            .map(drop)
    }

    /// `PUT /me/player/play` without a body: resume.
    pub async fn resume(&self) -> Result<(), BrokerError> {
        self.call(Method::PUT, "me/player/play", &[], None)
            .await
            .map(drop)
    }

    /// `PUT /me/player/pause`.
    pub async fn pause(&self) -> Result<(), BrokerError> {
        self.call(Method::PUT, "me/player/pause", &[], None)
            .await
            .map(drop)
    }

    /// `POST /me/player/next`.
    pub async fn next(&self) -> Result<(), BrokerError> {
        self.call(Method::POST, "me/player/next", &[], None)
            .await
            .map(drop)
    }

    /// `POST /me/player/previous`.
    pub async fn previous(&self) -> Result<(), BrokerError> {
        self.call(Method::POST, "me/player/previous", &[], None)
            .await
            .map(drop)
    }
}
