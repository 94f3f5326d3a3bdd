//! The Spotify Web API calls the conversation makes (through the broker), with the response shapes it reads.

use reqwest::Method;
use serde::{Deserialize, Serialize};

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
        /// `spotify:track:…`, when Spotify gave it.
        uri: Option<String>,
        /// The album's name, when Spotify gave it.
        album: Option<String>,
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
    uri: Option<String>,
    #[serde(default)]
    artists: Vec<Named>,
    #[serde(default)]
    show: Option<Named>,
    #[serde(default)]
    album: Option<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

/// What `PUT /me/player/play` starts: a context (album, artist, playlist, show) or tracks and
/// episodes. Serialized exactly as Spotify's request body (and kept as such in session attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PlayTarget {
    /// `{"context_uri": …}`.
    Context {
        /// `spotify:album:…`, `spotify:artist:…`, `spotify:playlist:…`, `spotify:show:…`.
        context_uri: String,
    },
    /// `{"uris": […]}`.
    Uris {
        /// `spotify:track:…` or `spotify:episode:…`.
        uris: Vec<String>,
    },
}

/// What a search result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A song.
    Track,
    /// An artist.
    Artist,
    /// An album.
    Album,
    /// A playlist.
    Playlist,
    /// A podcast.
    Show,
    /// A podcast episode.
    Episode,
}

impl Kind {
    /// Spotify's `type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Artist => "artist",
            Self::Album => "album",
            Self::Playlist => "playlist",
            Self::Show => "show",
            Self::Episode => "episode",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::Track => "tracks",
            Self::Artist => "artists",
            Self::Album => "albums",
            Self::Playlist => "playlists",
            Self::Show => "shows",
            Self::Episode => "episodes",
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// What it is.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// `spotify:…`.
    pub uri: String,
    /// Artists (tracks, albums) or the owner (playlists), for speech.
    pub artists: Vec<String>,
    /// The show of an episode.
    pub show: Option<String>,
}

impl Found {
    /// How to start it.
    pub fn target(&self) -> PlayTarget {
        match self.kind {
            Kind::Track | Kind::Episode => PlayTarget::Uris {
                uris: vec![self.uri.clone()],
            },
            _ => PlayTarget::Context {
                context_uri: self.uri.clone(),
            },
        }
    }
}

/// One of the user's Spotify Connect devices.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Device {
    /// Spotify's id (absent for some restricted devices).
    #[serde(default)]
    pub id: Option<String>,
    /// Its name ("Kitchen speaker").
    #[serde(default)]
    pub name: String,
    /// Whether it is the active device.
    #[serde(default)]
    pub is_active: bool,
    /// Whether the Web API may not control it.
    #[serde(default)]
    pub is_restricted: bool,
    /// Its volume, when known.
    #[serde(default)]
    pub volume_percent: Option<u8>,
    /// Whether Spotify may set its volume (absent means yes).
    #[serde(default)]
    pub supports_volume: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct DeviceList {
    #[serde(default)]
    devices: Vec<Option<Device>>,
}

/// `GET /me/player`, as far as the skill reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct PlayerState {
    /// The active device.
    #[serde(default)]
    pub device: Option<Device>,
    /// Whether something plays.
    #[serde(default)]
    pub is_playing: bool,
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
                uri: item.uri,
                album: item.album.and_then(|a| a.name),
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

    /// `GET /search` for `query` among `kinds`, `limit` of each, in the user's market.
    pub async fn search(
        &self,
        query: &str,
        kinds: &[Kind],
        limit: u8,
    ) -> Result<Vec<Found>, BrokerError> {
        let types: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let (types, limit) = (types.join(","), limit.to_string());
        let reply = self
            .call(
                Method::GET,
                "search",
                &[
                    ("q", query),
                    ("type", &types),
                    ("limit", &limit),
                    ("market", "from_token"),
                ],
                None,
            )
            .await?;
        let Some(body) = reply.body else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for kind in kinds {
            let items = body[kind.plural()]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            // Spotify sends null for items it cannot show; skip them and anything without a uri.
            for item in items.iter().filter(|i| i.is_object()) {
                let (Some(name), Some(uri)) = (item["name"].as_str(), item["uri"].as_str()) else {
                    continue;
                };
                let mut artists: Vec<String> = item["artists"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x["name"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if artists.is_empty() {
                    if let Some(owner) = item["owner"]["display_name"].as_str() {
                        artists.push(owner.to_owned());
                    }
                }
                found.push(Found {
                    kind: *kind,
                    name: name.to_owned(),
                    uri: uri.to_owned(),
                    artists,
                    show: item["show"]["name"].as_str().map(str::to_owned),
                });
            }
        }
        Ok(found)
    }

    /// `PUT /me/player/play` with `target`, on `device_id` when given.
    pub async fn play(
        &self,
        target: &PlayTarget,
        device_id: Option<&str>,
    ) -> Result<(), BrokerError> {
        let body =
            serde_json::to_value(target).map_err(|e| unexpected(0, format!("play body: {e}")))?;
        let query: Vec<(&str, &str)> = device_id.map(|d| ("device_id", d)).into_iter().collect();
        self.call(Method::PUT, "me/player/play", &query, Some(&body))
            .await
            .map(drop)
    }

    /// `GET /me/player/devices`: the devices Spotify can see, usable ones only.
    pub async fn devices(&self) -> Result<Vec<Device>, BrokerError> {
        let reply = self
            .call(Method::GET, "me/player/devices", &[], None)
            .await?;
        let Some(body) = reply.body else {
            return Ok(Vec::new());
        };
        let list: DeviceList = serde_json::from_value(body)
            .map_err(|e| unexpected(reply.status, format!("devices: {e}")))?;
        Ok(list
            .devices
            .into_iter()
            .flatten()
            .filter(|d| d.id.is_some() && !d.name.trim().is_empty())
            .collect())
    }

    /// `PUT /me/player`: moves playback to `device_id` and plays there.
    pub async fn transfer(&self, device_id: &str) -> Result<(), BrokerError> {
        let body = serde_json::json!({"device_ids": [device_id], "play": true});
        self.call(Method::PUT, "me/player", &[], Some(&body))
            .await
            .map(drop)
    }

    /// `GET /me/player`: the playback state, `None` when nothing is active.
    pub async fn player(&self) -> Result<Option<PlayerState>, BrokerError> {
        let reply = self.call(Method::GET, "me/player", &[], None).await?;
        let Some(body) = reply.body else {
            return Ok(None);
        };
        serde_json::from_value(body)
            .map(Some)
            .map_err(|e| unexpected(reply.status, format!("player: {e}")))
    }

    /// `PUT /me/player/volume?volume_percent=…`.
    pub async fn set_volume(&self, percent: u8) -> Result<(), BrokerError> {
        let percent = percent.min(100).to_string();
        self.call(
            Method::PUT,
            "me/player/volume",
            &[("volume_percent", &percent)],
            None,
        )
        .await
        .map(drop)
    }

    /// `PUT /me/player/shuffle?state=…`.
    pub async fn set_shuffle(&self, on: bool) -> Result<(), BrokerError> {
        let state = if on { "true" } else { "false" };
        self.call(Method::PUT, "me/player/shuffle", &[("state", state)], None)
            .await
            .map(drop)
    }

    /// `PUT /me/player/repeat?state=track|context|off`.
    pub async fn set_repeat(&self, state: &str) -> Result<(), BrokerError> {
        self.call(Method::PUT, "me/player/repeat", &[("state", state)], None)
            .await
            .map(drop)
    }

    /// `POST /me/player/queue?uri=…`.
    pub async fn queue(&self, uri: &str) -> Result<(), BrokerError> {
        self.call(Method::POST, "me/player/queue", &[("uri", uri)], None)
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
