//! The Spotify client: the only module that speaks to Spotify.

mod accounts;
mod profile;

pub use accounts::{AccountsError, SpotifyAccounts, TokenGrant};
pub use profile::{ProfileError, SpotifyProfile};

use std::time::Duration;

/// The HTTP client every Spotify call uses: never follows redirects, always times out.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .pool_max_idle_per_host(64)
        .build()
}
