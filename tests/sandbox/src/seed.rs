//! Serializable descriptions of sandbox users and their data, shared by the library API, the control endpoints and seed files.

use serde::{Deserialize, Serialize};

/// A Spotify subscription level; player commands need `Premium`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// Spotify Premium: player commands work.
    #[default]
    Premium,
    /// Spotify Free: player commands answer 403 `PREMIUM_REQUIRED`.
    Free,
}

impl Product {
    /// The value of the `product` field of the user object.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Premium => "premium",
            Self::Free => "free",
        }
    }
}

/// What happens to a refresh token when it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RefreshMode {
    /// The same refresh token keeps working; refresh answers carry no `refresh_token`.
    #[default]
    Reusable,
    /// Each refresh answers a new refresh token and revokes the one presented.
    Rotate,
}

/// A Spotify Connect device of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSeed {
    /// Device id (`device_id` in player commands).
    pub id: String,
    /// Human name, e.g. "Kitchen Echo".
    pub name: String,
    /// Device type as Spotify spells it: `Computer`, `Smartphone`, `Speaker`, ...
    #[serde(rename = "type", default = "default_device_type")]
    pub kind: String,
    /// Whether this device is the active one (at most one should be).
    #[serde(default)]
    pub is_active: bool,
    /// Volume in percent, if the device reports one.
    #[serde(default = "default_volume")]
    pub volume_percent: Option<u8>,
}

fn default_device_type() -> String {
    "Speaker".to_owned()
}

fn default_volume() -> Option<u8> {
    Some(50)
}

impl DeviceSeed {
    /// An inactive speaker with the given id and name.
    pub fn new(id: &str, name: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            kind: default_device_type(),
            is_active: false,
            volume_percent: default_volume(),
        }
    }
}

/// A track of the user's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSeed {
    /// Spotify track id (the URI is `spotify:track:<id>`).
    pub id: String,
    /// Track name.
    pub name: String,
    /// Artist name.
    #[serde(default = "default_artist")]
    pub artist: String,
    /// Album name.
    #[serde(default = "default_album")]
    pub album: String,
    /// Duration in milliseconds.
    #[serde(default = "default_duration")]
    pub duration_ms: u64,
}

fn default_artist() -> String {
    "Sandbox Artist".to_owned()
}

fn default_album() -> String {
    "Sandbox Album".to_owned()
}

fn default_duration() -> u64 {
    200_000
}

impl TrackSeed {
    /// A track by `artist` on an album of the same name as the track.
    pub fn new(id: &str, name: &str, artist: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            artist: artist.to_owned(),
            album: name.to_owned(),
            duration_ms: default_duration(),
        }
    }
}

/// A podcast episode of the user's catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeSeed {
    /// Spotify episode id (the URI is `spotify:episode:<id>`).
    pub id: String,
    /// Episode name.
    pub name: String,
    /// Name of the show (podcast).
    #[serde(default = "default_show")]
    pub show: String,
    /// Publisher of the show.
    #[serde(default = "default_publisher")]
    pub publisher: String,
    /// Duration in milliseconds.
    #[serde(default = "default_episode_duration")]
    pub duration_ms: u64,
}

fn default_show() -> String {
    "Sandbox Show".to_owned()
}

fn default_publisher() -> String {
    "Sandbox Publisher".to_owned()
}

fn default_episode_duration() -> u64 {
    1_800_000
}

/// A playlist of the user, with its tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaylistSeed {
    /// Spotify playlist id (the URI is `spotify:playlist:<id>`).
    pub id: String,
    /// Playlist name.
    pub name: String,
    /// Playlist description.
    #[serde(default)]
    pub description: String,
    /// Whether the playlist is public.
    #[serde(default)]
    pub public: bool,
    /// Whether the playlist is collaborative.
    #[serde(default)]
    pub collaborative: bool,
    /// The tracks, in order.
    #[serde(default)]
    pub tracks: Vec<TrackSeed>,
}

/// The player state of a user: what is queued, where, and whether it plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PlayerSeed {
    /// Id of the active device; `None` means no active device (the player answers 204).
    #[serde(default)]
    pub device_id: Option<String>,
    /// Whether playback is running.
    #[serde(default)]
    pub is_playing: bool,
    /// URI of the context (e.g. `spotify:playlist:<id>`) the queue comes from, if any.
    #[serde(default)]
    pub context_uri: Option<String>,
    /// URIs of the queued items (`spotify:track:<id>` or `spotify:episode:<id>`).
    #[serde(default)]
    pub queue: Vec<String>,
    /// Index of the current item in `queue`.
    #[serde(default)]
    pub index: usize,
    /// Progress into the current item, in milliseconds.
    #[serde(default)]
    pub progress_ms: u64,
    /// Shuffle state.
    #[serde(default)]
    pub shuffle: bool,
    /// Repeat state: `off`, `track` or `context`.
    #[serde(default = "default_repeat")]
    pub repeat: String,
    /// An ad plays in place of the current item: it is described as `currently_playing_type: "ad"`
    /// with no item, and skipping is refused with `Restriction violated`, as at Spotify.
    #[serde(default)]
    pub ad: bool,
}

fn default_repeat() -> String {
    "off".to_owned()
}

/// A sandbox user: profile, behaviour switches and data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSeed {
    /// Spotify user id.
    pub id: String,
    /// The `account_id` of `/v1/me`; defaults to the id.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub display_name: Option<String>,
    /// E-mail; defaults to `<id>@example.com`.
    #[serde(default)]
    pub email: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default = "default_country")]
    pub country: String,
    /// Subscription level.
    #[serde(default)]
    pub product: Product,
    /// Whether `/authorize` answers `error=access_denied` for this user.
    #[serde(default)]
    pub deny: bool,
    /// Whether the user is registered in the app's dashboard; if not, the Web API answers 403 in plain text.
    #[serde(default = "default_true")]
    pub registered: bool,
    /// What refreshing does to this user's refresh tokens.
    #[serde(default)]
    pub refresh_mode: RefreshMode,
    /// Scopes granted at consent whatever was asked; `None` grants what was asked.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Spotify Connect devices.
    #[serde(default)]
    pub devices: Vec<DeviceSeed>,
    /// Playlists (their tracks join the catalog).
    #[serde(default)]
    pub playlists: Vec<PlaylistSeed>,
    /// Tracks of the catalog outside any playlist.
    #[serde(default)]
    pub tracks: Vec<TrackSeed>,
    /// Podcast episodes of the catalog.
    #[serde(default)]
    pub episodes: Vec<EpisodeSeed>,
    /// The initial player state.
    #[serde(default)]
    pub player: PlayerSeed,
}

fn default_country() -> String {
    "US".to_owned()
}

fn default_true() -> bool {
    true
}

impl UserSeed {
    /// A registered premium user with no devices, playlists or playback.
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            account_id: None,
            display_name: None,
            email: None,
            country: default_country(),
            product: Product::Premium,
            deny: false,
            registered: true,
            refresh_mode: RefreshMode::Reusable,
            scopes: None,
            devices: Vec::new(),
            playlists: Vec::new(),
            tracks: Vec::new(),
            episodes: Vec::new(),
            player: PlayerSeed::default(),
        }
    }
}

/// A partial update of a user's profile and switches; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserPatch {
    /// New `account_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// New country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// New subscription level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// New consent behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<bool>,
    /// New registration state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<bool>,
    /// New refresh mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_mode: Option<RefreshMode>,
    /// New scope override for future consents; an empty list clears the override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}
