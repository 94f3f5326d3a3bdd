//! Call counters: token-endpoint calls by grant type, Web API calls by endpoint, conditional requests and 304s.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A snapshot of the counters (what `GET /sandbox/counters` answers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    /// `POST /api/token` calls by `grant_type` (`missing` when absent), faulted ones included.
    pub token: BTreeMap<String, u64>,
    /// All `POST /api/token` calls.
    pub token_total: u64,
    /// `GET /authorize` calls.
    pub authorize: u64,
    /// Web API calls keyed `"<METHOD> <path>"`, e.g. `"GET /v1/me/player"`, faulted ones included.
    pub api: BTreeMap<String, u64>,
    /// All Web API calls.
    pub api_total: u64,
    /// Web API calls that have arrived, counted before any injected latency (the others are counted as
    /// they are answered), so a test can tell that calls are under way.
    #[serde(default)]
    pub api_arrived: u64,
    /// Web API calls that arrived over HTTP/2 (h2c: the sandbox speaks plain HTTP/1.1 and HTTP/2).
    #[serde(default)]
    pub api_http2: u64,
    /// TCP connections accepted (accounts service and Web API alike), so a test can tell how many
    /// connections a client's calls took.
    #[serde(default)]
    pub connections: u64,
    /// Web API calls carrying `If-None-Match`.
    pub conditional_requests: u64,
    /// Web API calls answered 304 Not Modified.
    pub not_modified: u64,
}

impl CounterSnapshot {
    /// Calls to one Web API endpoint, e.g. `api_calls("GET /v1/me/player")`.
    pub fn api_calls(&self, key: &str) -> u64 {
        self.api.get(key).copied().unwrap_or(0)
    }

    /// Token-endpoint calls with one grant type.
    pub fn token_calls(&self, grant_type: &str) -> u64 {
        self.token.get(grant_type).copied().unwrap_or(0)
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Counters {
    inner: Mutex<CounterSnapshot>,
}

impl Counters {
    fn with(&self, f: impl FnOnce(&mut CounterSnapshot)) {
        if let Ok(mut inner) = self.inner.lock() {
            f(&mut inner);
        }
    }

    /// Counts a token-endpoint call.
    pub fn token_call(&self, grant_type: Option<&str>) {
        let grant_type = grant_type.unwrap_or("missing");
        self.with(|c| {
            c.token_total += 1;
            match c.token.get_mut(grant_type) {
                Some(n) => *n += 1,
                None => {
                    c.token.insert(grant_type.to_owned(), 1);
                }
            }
        });
    }

    /// Counts an authorize call.
    pub fn authorize_call(&self) {
        self.with(|c| c.authorize += 1);
    }

    /// Counts a Web API call.
    pub fn api_call(&self, method: &str, path: &str, conditional: bool) {
        self.with(|c| {
            c.api_total += 1;
            if conditional {
                c.conditional_requests += 1;
            }
            let key = format!("{method} {path}");
            *c.api.entry(key).or_insert(0) += 1;
        });
    }

    /// Counts a Web API call as it arrives, and whether it came over HTTP/2.
    pub fn api_arrival(&self, http2: bool) {
        self.with(|c| {
            c.api_arrived += 1;
            c.api_http2 += u64::from(http2);
        });
    }

    /// Counts an accepted TCP connection.
    pub fn connection(&self) {
        self.with(|c| c.connections += 1);
    }

    /// Counts a 304 answer.
    pub fn not_modified(&self) {
        self.with(|c| c.not_modified += 1);
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> CounterSnapshot {
        self.inner.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Sets every counter to zero.
    pub fn reset(&self) {
        self.with(|c| *c = CounterSnapshot::default());
    }
}
