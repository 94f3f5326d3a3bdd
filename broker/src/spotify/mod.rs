//! The Spotify client: the only module that speaks to Spotify.

mod accounts;
mod failure;
mod profile;
mod web_api;

pub use accounts::{AccountsError, SpotifyAccounts, TokenGrant};
pub use failure::{Failure, classify};
pub use profile::{ProfileError, SpotifyProfile};
pub use web_api::{ApiRequest, ApiResponse, CallError, WebApi, path_only};

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
