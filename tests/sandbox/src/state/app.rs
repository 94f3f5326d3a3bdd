//! The Spotify app itself, as its dashboard describes it: development mode with a five-seat allowlist
//! (or extended quota), and whether its owner's Premium subscription is active.

use serde::{Deserialize, Serialize};

/// How many users a development-mode app may have on its allowlist (Spotify's February 2026 limits).
pub const DEVELOPMENT_SEATS: usize = 5;

/// The app's quota mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AppMode {
    /// At most five allowlisted users, the owner needs Premium, `/playlists/{id}/tracks` is gone.
    #[default]
    Development,
    /// No seat limit and no owner Premium requirement; the deprecated endpoints still answer.
    ExtendedQuota,
}

/// The app's switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSettings {
    /// Quota mode.
    pub mode: AppMode,
    /// Whether the owner's Premium subscription is active (a development-mode app stops working
    /// without it, until it is renewed).
    pub owner_premium: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            mode: AppMode::Development,
            owner_premium: true,
        }
    }
}

impl AppSettings {
    /// Whether every Web API call fails because the owner's Premium lapsed.
    pub fn owner_lapsed(&self) -> bool {
        self.mode == AppMode::Development && !self.owner_premium
    }

    /// Whether the allowlist is limited to [`DEVELOPMENT_SEATS`].
    pub fn seats_limited(&self) -> bool {
        self.mode == AppMode::Development
    }
}

/// Body of `PATCH /sandbox/app`: absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPatch {
    /// New quota mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AppMode>,
    /// Whether the owner's Premium is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_premium: Option<bool>,
}

impl AppSettings {
    /// Applies a patch.
    pub fn patch(&mut self, patch: &AppPatch) {
        if let Some(mode) = patch.mode {
            self.mode = mode;
        }
        if let Some(premium) = patch.owner_premium {
            self.owner_premium = premium;
        }
    }
}
