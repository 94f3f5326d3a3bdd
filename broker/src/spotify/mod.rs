//! The Spotify client: the only module that speaks to Spotify.

mod accounts;
mod connections;
mod failure;
mod profile;
mod web_api;

pub use accounts::{AccountsError, SpotifyAccounts, TokenGrant};
pub use connections::{ApiConnections, ConnectionError, NewConnectionsError};
pub use failure::{Failure, classify};
pub use profile::{ProfileError, SpotifyProfile};
pub use web_api::{ApiRequest, ApiResponse, CallError, SendError, WebApi, path_only};

use std::time::Duration;

/// The HTTP client of Spotify's accounts service and the profile call: never follows redirects, always
/// times out, and never retries by itself. reqwest's own retry layer only retries refused HTTP/2 streams
/// (this client speaks HTTP/1.1), yet it copied every request in case it would.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .timeout(timeout)
        .connect_timeout(connect_timeout(timeout))
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .build()
}

/// Idle connections each client keeps per host (the Web API's pools: per thread).
const IDLE_PER_HOST: usize = 64;

/// How long connecting may take within a call that may take `timeout`: never more than 2 s, so that an
/// unreachable host leaves time to retry.
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(2))
}
