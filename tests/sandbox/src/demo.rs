//! The demo data a default sandbox starts with: premium user `alice` with two devices, two playlists, a podcast and music playing.

use crate::seed::{DeviceSeed, EpisodeSeed, PlayerSeed, PlaylistSeed, TrackSeed, UserSeed};

/// Id of the default user.
pub const DEFAULT_USER: &str = "alice";

/// Id of alice's active device.
pub const KITCHEN_DEVICE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

/// Id of alice's other device.
pub const LAPTOP_DEVICE: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f98765432";

/// Id of alice's first playlist ("Morning Jazz").
pub const JAZZ_PLAYLIST: &str = "37i9dQZF1DXbITWG1ZJKYt";

/// Id of alice's second playlist ("Road Trip").
pub const ROAD_TRIP_PLAYLIST: &str = "5ABHKGoOzxkaa28ttQV9sE";

fn track(id: &str, name: &str, artist: &str, album: &str, duration_ms: u64) -> TrackSeed {
    TrackSeed {
        id: id.to_owned(),
        name: name.to_owned(),
        artist: artist.to_owned(),
        album: album.to_owned(),
        duration_ms,
    }
}

/// The default user: premium, two devices (the kitchen one active), two playlists, one podcast episode, jazz playing.
pub fn alice() -> UserSeed {
    UserSeed {
        display_name: Some("Alice Example".to_owned()),
        ..user(DEFAULT_USER)
    }
}

/// A premium user `id` with the demo devices, playlists, catalog and playback.
pub fn user(id: &str) -> UserSeed {
    let jazz = vec![
        track(
            "4vLYewWIvqHfKtJDk8c8tq",
            "So What",
            "Miles Davis",
            "Kind of Blue",
            562_000,
        ),
        track(
            "0aWMVrwxPNYkKmFthzmpRi",
            "Take Five",
            "The Dave Brubeck Quartet",
            "Time Out",
            324_000,
        ),
        track(
            "2Cz0gjM1o4CjZ6ghwsOFCe",
            "Blue in Green",
            "Miles Davis",
            "Kind of Blue",
            337_000,
        ),
    ];
    let road = vec![
        track(
            "7o2CTH4ctstm8TNelqjb51",
            "Sweet Child O' Mine",
            "Guns N' Roses",
            "Appetite for Destruction",
            356_000,
        ),
        track(
            "5CQ30WqJwcep0pYcV4AMNc",
            "Stairway to Heaven",
            "Led Zeppelin",
            "Led Zeppelin IV",
            482_000,
        ),
    ];
    let mut kitchen = DeviceSeed::new(KITCHEN_DEVICE, "Kitchen Echo");
    kitchen.is_active = true;
    let mut laptop = DeviceSeed::new(LAPTOP_DEVICE, "Alice's Laptop");
    laptop.kind = "Computer".to_owned();
    let player = PlayerSeed {
        device_id: Some(KITCHEN_DEVICE.to_owned()),
        is_playing: true,
        context_uri: Some(format!("spotify:playlist:{JAZZ_PLAYLIST}")),
        queue: jazz
            .iter()
            .map(|t| format!("spotify:track:{}", t.id))
            .collect(),
        index: 0,
        progress_ms: 42_000,
        shuffle: false,
        repeat: "off".to_owned(),
        ad: false,
    };
    UserSeed {
        devices: vec![kitchen, laptop],
        playlists: vec![
            PlaylistSeed {
                id: JAZZ_PLAYLIST.to_owned(),
                name: "Morning Jazz".to_owned(),
                description: "Slow starts".to_owned(),
                public: false,
                collaborative: false,
                tracks: jazz,
            },
            PlaylistSeed {
                id: ROAD_TRIP_PLAYLIST.to_owned(),
                name: "Road Trip".to_owned(),
                description: "Loud and long".to_owned(),
                public: true,
                collaborative: false,
                tracks: road,
            },
        ],
        tracks: vec![track(
            "3n3Ppam7vgaVa1iaRUc9Lp",
            "Mr. Brightside",
            "The Killers",
            "Hot Fuss",
            222_000,
        )],
        episodes: vec![EpisodeSeed {
            id: "512ojhOuo1ktJprKbVcKyQ".to_owned(),
            name: "The Sandbox Hour".to_owned(),
            show: "Testing Weekly".to_owned(),
            publisher: "Sandbox Radio".to_owned(),
            duration_ms: 2_400_000,
        }],
        player,
        ..UserSeed::new(id)
    }
}
