//! Sandbox configuration: the app credentials it accepts and the users it starts with.

use crate::demo;
use crate::seed::UserSeed;
use crate::state::app::AppSettings;

/// How a sandbox starts: which Spotify app it impersonates and which users exist.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The client id `/authorize` and `/api/token` accept.
    pub client_id: String,
    /// The client secret `/api/token` accepts (a test credential, hence a plain string).
    pub client_secret: String,
    /// The user `/authorize` approves for when no `sandbox_user` is named.
    pub default_user: Option<String>,
    /// The users that exist at start.
    pub users: Vec<UserSeed>,
    /// Base URL used in `href`/`next` links; `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// Number of HTTP worker threads.
    pub workers: usize,
    /// The app's mode and its owner's subscription at start.
    pub app: AppSettings,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            client_id: "sandbox-client-id".to_owned(),
            client_secret: "sandbox-client-secret".to_owned(),
            default_user: Some(demo::DEFAULT_USER.to_owned()),
            users: vec![demo::alice()],
            public_url: None,
            workers: 2,
            app: AppSettings::default(),
        }
    }
}

impl SandboxConfig {
    /// A configuration with the default credentials and the given users, the first being the default user.
    pub fn with_users(users: Vec<UserSeed>) -> Self {
        Self {
            default_user: users.first().map(|u| u.id.clone()),
            users,
            ..Self::default()
        }
    }
}
