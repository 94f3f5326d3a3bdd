//! The sandbox Spotify every broker in the suite talks to, with the users the tests link.

use spotify_sandbox::{RunningSandbox, SandboxConfig, UserSeed, demo, spawn};

/// The default user `/authorize` approves for (premium, demo devices and playlists).
pub const ALICE: &str = "alice";
/// A second user, for tests that need two links.
pub const BOB: &str = "bob";
/// A user whose consent always answers `error=access_denied`.
pub const DENIER: &str = "dora";

/// Starts a sandbox on a free port with alice (the default user), bob and a user who denies consent.
pub async fn spawn_sandbox() -> RunningSandbox {
    crate::logs::init();
    let denier = UserSeed {
        deny: true,
        ..UserSeed::new(DENIER)
    };
    let bob = UserSeed {
        display_name: Some("Bob Example".to_owned()),
        ..demo::user(BOB)
    };
    let config = SandboxConfig {
        workers: 1,
        ..SandboxConfig::with_users(vec![demo::alice(), bob, denier])
    };
    spawn(config, "127.0.0.1:0")
        .await
        .unwrap_or_else(|err| panic!("starting the sandbox spotify: {err:#}"))
}
