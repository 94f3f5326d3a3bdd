//! The Spotify client: the only module that speaks to Spotify.

mod accounts;
mod failure;
mod profile;
mod web_api;

pub use accounts::{AccountsError, SpotifyAccounts, TokenGrant};
pub use failure::{Failure, classify};
pub use profile::{ProfileError, SpotifyProfile};
pub use web_api::{ApiRequest, ApiResponse, CallError, WebApi, path_only};

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The HTTP client every Spotify call uses: never follows redirects, always times out, and never retries
/// by itself. What may be retried, the broker retries ([`WebApi::call`]); reqwest's own layer only retries
/// refused HTTP/2 streams (this client speaks HTTP/1.1), yet it copied every request in case it would.
pub fn http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(2)))
        .pool_max_idle_per_host(64)
        .build()
}

/// The Web API's HTTP clients, one per thread, each built on first use with [`http_client`]. Every actix
/// worker runs its own single-threaded runtime, and a pooled connection is driven by the runtime that
/// opened it: with one client for all workers, a call could go out through another worker's connection,
/// crossing threads twice. With a client per thread, a worker's calls stay on its own connections.
#[derive(Debug, Clone)]
pub struct ThreadClients {
    timeout: Duration,
    id: u64,
}

thread_local! {
    /// This thread's clients, by [`ThreadClients`] id (one per broker in the process, so a short list).
    static CLIENTS: RefCell<Vec<(u64, reqwest::Client)>> = const { RefCell::new(Vec::new()) };
}

impl ThreadClients {
    /// Checks that a client can be built with `timeout` (so a bad setting fails at start).
    pub fn new(timeout: Duration) -> reqwest::Result<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        http_client(timeout)?;
        Ok(Self {
            timeout,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// This thread's client.
    pub fn get(&self) -> reqwest::Result<reqwest::Client> {
        CLIENTS.with_borrow_mut(|clients| {
            if let Some((_, client)) = clients.iter().find(|(id, _)| *id == self.id) {
                return Ok(client.clone());
            }
            let client = http_client(self.timeout)?;
            clients.push((self.id, client.clone()));
            Ok(client)
        })
    }
}
