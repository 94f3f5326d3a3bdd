//! The Spotify client: the only module that speaks to Spotify.

mod accounts;
mod failure;
mod profile;
mod web_api;

pub use accounts::{AccountsError, SpotifyAccounts, TokenGrant};
pub use failure::{Failure, classify};
pub use profile::{ProfileError, SpotifyProfile};
pub use web_api::{ApiRequest, ApiResponse, CallError, SendError, WebApi, path_only};

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::web::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::HttpVersion;

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

/// Idle connections kept per host by each client.
const IDLE_PER_HOST: usize = 64;

/// How long connecting may take within a call that may take `timeout`: never more than 2 s, so that an
/// unreachable host leaves time to retry.
fn connect_timeout(timeout: Duration) -> Duration {
    timeout.min(Duration::from_secs(2))
}

/// The Web API's connection pool (HTTP/1.1 or HTTP/2, see [`ThreadClients::new`]): hyper's own client,
/// without reqwest's layers (per call, reqwest parsed the URL twice for its redirect policy, copied the
/// headers and added a timer; about a fifth of an uncached answer's instructions). Follows no redirects,
/// and retries by itself only a request that never left (a pooled connection found closed before
/// writing), which is safe for player commands too; timeouts and every other retry are [`WebApi`]'s.
pub type WebClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The Web API's clients, one per thread, each built on first use. Every actix worker runs its own
/// single-threaded runtime, and a pooled connection is driven by the runtime that opened it: with one
/// client for all workers, a call could go out through another worker's connection, crossing threads
/// twice. With a client per thread, a worker's calls stay on its own connections.
#[derive(Debug, Clone)]
pub struct ThreadClients {
    connector: HttpsConnector<HttpConnector>,
    /// Every connection speaks HTTP/2 (`spotify.http_version = "http2"`).
    http2_only: bool,
    id: u64,
}

thread_local! {
    /// This thread's clients, by [`ThreadClients`] id (one per broker in the process, so a short list).
    static CLIENTS: RefCell<Vec<(u64, WebClient)>> = const { RefCell::new(Vec::new()) };
}

/// How long an idle pooled connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

impl ThreadClients {
    /// Clients for calls that may take `timeout` (connecting gives up sooner, as [`http_client`]'s does),
    /// speaking TLS with the webpki roots to `https` URLs, and plain HTTP to `http` ones (the sandbox, the
    /// benchmark's upstream), in the HTTP versions `version` allows. The timeout of a whole call is
    /// [`WebApi`]'s.
    ///
    /// Over HTTP/2 a worker's concurrent calls share one connection: one write carries many requests and
    /// one read many answers, where HTTP/1.1 needs a connection, a write and a read per call in flight.
    pub fn new(timeout: Duration, version: HttpVersion) -> Result<Self, rustls::Error> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout(timeout)));
        let builder = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http();
        // The versions offered in the TLS handshake (ALPN); a plain connection speaks HTTP/1.1 unless
        // the client is HTTP/2 only.
        let connector = match version {
            HttpVersion::Auto => builder.enable_all_versions().wrap_connector(http),
            HttpVersion::Http1 => builder.enable_http1().wrap_connector(http),
            HttpVersion::Http2 => builder.enable_http2().wrap_connector(http),
        };
        Ok(Self {
            connector,
            http2_only: version == HttpVersion::Http2,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// This thread's client.
    pub fn get(&self) -> WebClient {
        CLIENTS.with_borrow_mut(|clients| {
            if let Some((_, client)) = clients.iter().find(|(id, _)| *id == self.id) {
                return client.clone();
            }
            let client = Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new()) // HTTP/2's own timers
                .pool_idle_timeout(IDLE_TIMEOUT)
                .pool_max_idle_per_host(IDLE_PER_HOST)
                .http2_only(self.http2_only)
                .build(self.connector.clone());
            clients.push((self.id, client.clone()));
            client
        })
    }
}
