//! A user's in-memory data: profile, devices, playlists and the catalog of playable items.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ids;
use crate::seed::{
    DeviceSeed, EpisodeSeed, PlaylistSeed, Product, RefreshMode, TrackSeed, UserPatch, UserSeed,
};
use crate::state::player::Player;

/// A track of the catalog, with the ids of its artist and album worked out.
#[derive(Debug)]
pub struct Track {
    /// Track id.
    pub id: String,
    /// `spotify:track:<id>`.
    pub uri: String,
    /// Track name.
    pub name: String,
    /// Artist name.
    pub artist: String,
    /// Artist id.
    pub artist_id: String,
    /// Album name.
    pub album: String,
    /// Album id.
    pub album_id: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
}

/// A podcast episode of the catalog.
#[derive(Debug)]
pub struct Episode {
    /// Episode id.
    pub id: String,
    /// `spotify:episode:<id>`.
    pub uri: String,
    /// Episode name.
    pub name: String,
    /// Show name.
    pub show: String,
    /// Show id.
    pub show_id: String,
    /// Show publisher.
    pub publisher: String,
    /// Duration in milliseconds.
    pub duration_ms: u64,
}

/// Something the player can play.
#[derive(Debug, Clone)]
pub enum Item {
    /// A music track.
    Track(Arc<Track>),
    /// A podcast episode.
    Episode(Arc<Episode>),
}

impl Item {
    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        match self {
            Self::Track(t) => t.duration_ms,
            Self::Episode(e) => e.duration_ms,
        }
    }
}

impl Track {
    fn from_seed(seed: &TrackSeed) -> Self {
        Self {
            uri: format!("spotify:track:{}", seed.id),
            id: seed.id.clone(),
            name: seed.name.clone(),
            artist_id: ids::derived("artist", &seed.artist),
            artist: seed.artist.clone(),
            album_id: ids::derived("album", &seed.album),
            album: seed.album.clone(),
            duration_ms: seed.duration_ms,
        }
    }
}

impl Episode {
    fn from_seed(seed: &EpisodeSeed) -> Self {
        Self {
            uri: format!("spotify:episode:{}", seed.id),
            id: seed.id.clone(),
            name: seed.name.clone(),
            show_id: ids::derived("show", &seed.show),
            show: seed.show.clone(),
            publisher: seed.publisher.clone(),
            duration_ms: seed.duration_ms,
        }
    }
}

/// A playlist with its tracks resolved against the catalog.
#[derive(Debug)]
pub struct Playlist {
    /// Playlist id.
    pub id: String,
    /// `spotify:playlist:<id>`.
    pub uri: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Public flag.
    pub public: bool,
    /// Collaborative flag.
    pub collaborative: bool,
    /// The tracks, in order.
    pub tracks: Vec<Arc<Track>>,
    /// Changes whenever the playlist does.
    pub snapshot_id: String,
}

/// A user with everything the sandbox knows about them.
#[derive(Debug)]
pub struct User {
    /// Spotify user id.
    pub id: String,
    /// `account_id` of `/v1/me`.
    pub account_id: String,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Country.
    pub country: String,
    /// Subscription level.
    pub product: Product,
    /// Whether consent is denied.
    pub deny: bool,
    /// Whether the app may serve this user.
    pub registered: bool,
    /// Refresh token behaviour.
    pub refresh_mode: RefreshMode,
    /// Scope override for consents.
    pub scopes: Option<Vec<String>>,
    /// Connect devices.
    pub devices: Vec<DeviceSeed>,
    /// Playlists.
    pub playlists: Vec<Playlist>,
    /// Every playable item by URI.
    pub catalog: HashMap<String, Item>,
    /// Catalog tracks in seed order (for search).
    pub tracks: Vec<Arc<Track>>,
    /// Catalog episodes in seed order (for search).
    pub episodes: Vec<Arc<Episode>>,
    /// The player.
    pub player: Player,
}

impl User {
    /// Builds a user from a seed; the player starts as the seed says, at time `now_ms`.
    pub fn from_seed(seed: &UserSeed, now_ms: i64) -> Self {
        let mut user = Self {
            id: seed.id.clone(),
            account_id: seed.account_id.clone().unwrap_or_else(|| seed.id.clone()),
            display_name: seed.display_name.clone().unwrap_or_else(|| seed.id.clone()),
            email: seed
                .email
                .clone()
                .unwrap_or_else(|| format!("{}@example.com", seed.id)),
            country: seed.country.clone(),
            product: seed.product,
            deny: seed.deny,
            registered: seed.registered,
            refresh_mode: seed.refresh_mode,
            scopes: seed.scopes.clone(),
            devices: Vec::new(),
            playlists: Vec::new(),
            catalog: HashMap::new(),
            tracks: Vec::new(),
            episodes: Vec::new(),
            player: Player::default(),
        };
        user.set_devices(seed.devices.clone());
        for track in &seed.tracks {
            user.add_track(track);
        }
        for episode in &seed.episodes {
            let episode = Arc::new(Episode::from_seed(episode));
            user.catalog
                .insert(episode.uri.clone(), Item::Episode(Arc::clone(&episode)));
            user.episodes.push(episode);
        }
        user.set_playlists(&seed.playlists);
        user.player = Player::from_seed(&seed.player, now_ms);
        user.ensure_items(&seed.player.queue);
        user
    }

    /// Applies a profile patch.
    pub fn patch(&mut self, patch: UserPatch) {
        if let Some(v) = patch.account_id {
            self.account_id = v;
        }
        if let Some(v) = patch.display_name {
            self.display_name = v;
        }
        if let Some(v) = patch.email {
            self.email = v;
        }
        if let Some(v) = patch.country {
            self.country = v;
        }
        if let Some(v) = patch.product {
            self.product = v;
        }
        if let Some(v) = patch.deny {
            self.deny = v;
        }
        if let Some(v) = patch.registered {
            self.registered = v;
        }
        if let Some(v) = patch.refresh_mode {
            self.refresh_mode = v;
        }
        if let Some(v) = patch.scopes {
            self.scopes = if v.is_empty() { None } else { Some(v) };
        }
    }

    /// Replaces the devices; the player follows the active one.
    pub fn set_devices(&mut self, devices: Vec<DeviceSeed>) {
        self.devices = devices;
        let active = self
            .devices
            .iter()
            .find(|d| d.is_active)
            .map(|d| d.id.clone());
        if self
            .player
            .device_id
            .as_ref()
            .is_some_and(|id| !self.devices.iter().any(|d| &d.id == id))
        {
            self.player.device_id = None;
            self.player.is_playing = false;
        }
        if active.is_some() {
            self.player.device_id = active;
        }
        self.sync_active_flags();
    }

    /// Marks the player's device as the only active one.
    pub fn sync_active_flags(&mut self) {
        let active = self.player.device_id.as_deref();
        for device in &mut self.devices {
            device.is_active = Some(device.id.as_str()) == active;
        }
    }

    /// Replaces the playlists; their tracks join the catalog.
    pub fn set_playlists(&mut self, playlists: &[PlaylistSeed]) {
        self.playlists = playlists
            .iter()
            .map(|p| Playlist {
                uri: format!("spotify:playlist:{}", p.id),
                id: p.id.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                public: p.public,
                collaborative: p.collaborative,
                tracks: p.tracks.iter().map(|t| self.add_track(t)).collect(),
                snapshot_id: crate::ids::token("", 32),
            })
            .collect();
    }

    fn add_track(&mut self, seed: &TrackSeed) -> Arc<Track> {
        let uri = format!("spotify:track:{}", seed.id);
        if let Some(Item::Track(existing)) = self.catalog.get(&uri) {
            return Arc::clone(existing);
        }
        let track = Arc::new(Track::from_seed(seed));
        self.catalog.insert(uri, Item::Track(Arc::clone(&track)));
        self.tracks.push(Arc::clone(&track));
        track
    }

    /// Makes sure every URI resolves to an item, inventing placeholder tracks and episodes for unknown ones.
    pub fn ensure_items(&mut self, uris: &[String]) {
        for uri in uris {
            if self.catalog.contains_key(uri) {
                continue;
            }
            if let Some(id) = uri.strip_prefix("spotify:episode:") {
                let episode = Arc::new(Episode::from_seed(&EpisodeSeed {
                    id: id.to_owned(),
                    name: format!("Episode {id}"),
                    show: "Sandbox Show".to_owned(),
                    publisher: "Sandbox Publisher".to_owned(),
                    duration_ms: 1_800_000,
                }));
                self.catalog.insert(uri.clone(), Item::Episode(episode));
            } else if let Some(id) = uri.strip_prefix("spotify:track:") {
                self.add_track(&TrackSeed::new(
                    id,
                    &format!("Track {id}"),
                    "Sandbox Artist",
                ));
            }
        }
    }

    /// The playlist with this id.
    pub fn playlist(&self, id: &str) -> Option<&Playlist> {
        self.playlists.iter().find(|p| p.id == id)
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&DeviceSeed> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// The item the player is on, if any.
    pub fn current_item(&self) -> Option<&Item> {
        self.player
            .current_uri()
            .and_then(|uri| self.catalog.get(uri))
    }
}
