//! The broker's Prometheus families (DESIGN.md flow 7), one function per event so that each name and
//! its labels live here only. Label values come from closed sets (route templates, endpoint names,
//! outcomes, codes): never a token, a user id or a query.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use ::metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};

use crate::fast_hash::FastHash;
use crate::proxy::{Endpoint, PauseKind, Source};
use crate::store::{AuditKind, LinkStatus};

pub const HTTP_REQUESTS: &str = "broker_http_requests_total";
pub const HTTP_DURATION: &str = "broker_http_request_duration_seconds";
pub const SPOTIFY_REQUESTS: &str = "broker_spotify_requests_total";
pub const SPOTIFY_DURATION: &str = "broker_spotify_request_duration_seconds";
pub const SPOTIFY_REFRESHES: &str = "broker_spotify_refreshes_total";
pub const SPOTIFY_REFRESH_DURATION: &str = "broker_spotify_refresh_duration_seconds";
pub const CACHE_EVENTS: &str = "broker_cache_events_total";
pub const COOLDOWNS: &str = "broker_cooldowns_total";
pub const COOLDOWN_REMAINING: &str = "broker_cooldown_remaining_seconds";
pub const APP_INCIDENT: &str = "broker_app_incident";
pub const LINKS: &str = "broker_links";
pub const STORE_UP: &str = "broker_store_up";
pub const TOKEN_GRANTS: &str = "broker_token_grants_total";
pub const AUDIT_EVENTS: &str = "broker_audit_events_total";
pub const LOG_LINES_DROPPED: &str = "broker_log_lines_dropped";

/// Describes every family once, so that `/metrics` carries `HELP` and `TYPE` lines for each.
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "time to answer an HTTP request, by route template"
    );
    describe_counter!(
        SPOTIFY_REQUESTS,
        "Web API calls to Spotify, by allowlisted endpoint and outcome"
    );
    describe_histogram!(
        SPOTIFY_DURATION,
        Unit::Seconds,
        "time Spotify took to answer a Web API call (retries included), by endpoint"
    );
    describe_counter!(
        SPOTIFY_REFRESHES,
        "Spotify access-token refreshes, by outcome"
    );
    describe_histogram!(
        SPOTIFY_REFRESH_DURATION,
        Unit::Seconds,
        "time a Spotify refresh took, from asking to storing"
    );
    describe_counter!(
        CACHE_EVENTS,
        "proxy cache events: hit, miss, revalidated, stale, coalesced"
    );
    describe_counter!(
        COOLDOWNS,
        "app-wide pauses of Spotify calls begun or extended: rate_limit, quota, premium_incident"
    );
    describe_gauge!(
        COOLDOWN_REMAINING,
        Unit::Seconds,
        "seconds left in an app-wide pause of Spotify calls, by kind"
    );
    describe_gauge!(
        APP_INCIDENT,
        "1 while Spotify refuses the app because its owner lacks Premium"
    );
    describe_gauge!(LINKS, "links by status, read from the store periodically");
    describe_gauge!(
        STORE_UP,
        "1 when the last periodic read of the store succeeded, else 0"
    );
    describe_counter!(
        TOKEN_GRANTS,
        "token endpoint requests, by grant type and outcome (issued or the OAuth error code)"
    );
    describe_counter!(AUDIT_EVENTS, "audit events written, by kind");
    describe_gauge!(
        LOG_LINES_DROPPED,
        "log lines dropped since start because the log buffer was full"
    );
}

/// A route template and a status code.
type RouteStatus = (&'static str, u16);
/// A Spotify endpoint's name and how a call to it ended.
type EndpointOutcome = (&'static str, &'static str);

thread_local! {
    /// This thread's handles of the HTTP families by route template and status (a bounded set), so an
    /// answered request costs two atomic updates rather than two lookups in the registry.
    static HTTP_HANDLES: CountedTimings<RouteStatus> = RefCell::default();
    /// This thread's handles of the cache events (answered from the cache on most requests).
    static CACHE_EVENT_HANDLES: RefCell<HashMap<&'static str, Counter, FastHash>> = RefCell::default();
    /// This thread's handles of the Spotify call families by endpoint and outcome (a bounded set): one
    /// per call that misses the cache.
    static SPOTIFY_HANDLES: CountedTimings<EndpointOutcome> = RefCell::default();
}

/// Per thread, a counter and a duration histogram by key, made on first use.
type CountedTimings<K> = RefCell<HashMap<K, (Counter, Histogram), FastHash>>;

/// Counts one event under `key` and records how long it took, through this thread's handles.
fn count_and_time<K: std::hash::Hash + Eq>(
    handles: &'static std::thread::LocalKey<CountedTimings<K>>,
    key: K,
    make: impl FnOnce() -> (Counter, Histogram),
    elapsed: Duration,
) {
    handles.with_borrow_mut(|handles| {
        let (count, duration) = handles.entry(key).or_insert_with(make);
        count.increment(1);
        duration.record(elapsed.as_secs_f64());
    });
}

/// One answered HTTP request; `route` is the matched template (`unmatched` for none).
pub fn http_request(route: &'static str, status: u16, elapsed: Duration) {
    count_and_time(
        &HTTP_HANDLES,
        (route, status),
        || {
            (
                counter!(HTTP_REQUESTS, "route" => route, "status" => status_label(status)),
                histogram!(HTTP_DURATION, "route" => route),
            )
        },
        elapsed,
    );
}

/// What one Web API call to Spotify came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotifyOutcome {
    Ok,
    NotModified,
    Unauthorized,
    Forbidden,
    NotFound,
    RateLimited,
    ClientError,
    ServerError,
    /// No answer: connection failure or timeout.
    Unreachable,
    /// The caller's deadline passed first.
    OutOfTime,
}

impl SpotifyOutcome {
    /// The outcome of an answer with `status`.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Ok,
            304 => Self::NotModified,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::RateLimited,
            500.. => Self::ServerError,
            _ => Self::ClientError,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotModified => "not_modified",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::Unreachable => "unreachable",
            Self::OutOfTime => "out_of_time",
        }
    }
}

/// One Web API call to Spotify.
pub fn spotify_request(endpoint: Endpoint, outcome: SpotifyOutcome, elapsed: Duration) {
    let (endpoint, outcome) = (endpoint.name(), outcome.as_str());
    count_and_time(
        &SPOTIFY_HANDLES,
        (endpoint, outcome),
        || {
            (
                counter!(SPOTIFY_REQUESTS, "endpoint" => endpoint, "outcome" => outcome),
                histogram!(SPOTIFY_DURATION, "endpoint" => endpoint),
            )
        },
        elapsed,
    );
}

/// How one Spotify refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens stored.
    Refreshed,
    /// Another task or replica changed the tokens meanwhile.
    Superseded,
    /// Spotify refused the refresh token (twice); the link needs relinking.
    InvalidGrant,
    /// Refused, but held back as part of an upstream incident.
    HeldBack,
    RateLimited,
    /// Spotify failed or could not be reached.
    Failed,
    /// Spotify answered but the store could not keep it within the lease.
    StoreFailed,
}

impl RefreshOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::Superseded => "superseded",
            Self::InvalidGrant => "invalid_grant",
            Self::HeldBack => "held_back",
            Self::RateLimited => "rate_limited",
            Self::Failed => "failed",
            Self::StoreFailed => "store_failed",
        }
    }
}

/// One Spotify refresh.
pub fn spotify_refresh(outcome: RefreshOutcome, elapsed: Duration) {
    counter!(SPOTIFY_REFRESHES, "outcome" => outcome.as_str()).increment(1);
    histogram!(SPOTIFY_REFRESH_DURATION).record(elapsed.as_secs_f64());
}

/// What the cache did for one cacheable GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEvent {
    /// Answered from the cache, fresh, or from a fetch's answer.
    Answered(Source),
    /// Waited on a fetch another request had started.
    Coalesced,
}

pub fn cache_event(event: CacheEvent) {
    let name = match event {
        CacheEvent::Answered(source) => source.as_str(),
        CacheEvent::Coalesced => "coalesced",
    };
    CACHE_EVENT_HANDLES.with_borrow_mut(|handles| {
        handles
            .entry(name)
            .or_insert_with(|| counter!(CACHE_EVENTS, "event" => name))
            .increment(1);
    });
}

/// The kinds of app-wide pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownKind {
    Paused(PauseKind),
    PremiumIncident,
}

impl CooldownKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Paused(PauseKind::RateLimit) => "rate_limit",
            Self::Paused(PauseKind::Quota) => "quota",
            Self::PremiumIncident => "premium_incident",
        }
    }
}

/// An app-wide pause began on this replica.
pub fn cooldown_started(kind: CooldownKind) {
    counter!(COOLDOWNS, "kind" => kind.as_str()).increment(1);
}

/// The pauses as they stand (set at each scrape).
pub fn cooldown_state(remaining: &[(PauseKind, Duration)], incident: bool) {
    for (kind, left) in remaining {
        gauge!(COOLDOWN_REMAINING, "kind" => CooldownKind::Paused(*kind).as_str())
            .set(left.as_secs_f64());
    }
    gauge!(APP_INCIDENT).set(if incident { 1.0 } else { 0.0 });
}

/// Links by status as the store counts them.
pub fn links(counts: &[(LinkStatus, u64)]) {
    for (status, count) in counts {
        // Counts of links stay far below 2^53: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        gauge!(LINKS, "status" => status.as_str()).set(*count as f64);
    }
}

/// Whether the last periodic read of the store worked.
pub fn store_up(up: bool) {
    gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
}

/// One token endpoint request: `grant_type` as the closed set the endpoint knows, `outcome` `issued` or
/// the OAuth error code.
pub fn token_grant(grant_type: &'static str, outcome: &'static str) {
    counter!(TOKEN_GRANTS, "grant_type" => grant_type, "outcome" => outcome).increment(1);
}

/// One audit event written.
pub fn audit_event(kind: AuditKind) {
    counter!(AUDIT_EVENTS, "kind" => kind.as_str()).increment(1);
}

/// Log lines dropped so far (set at each scrape).
pub fn log_lines_dropped(dropped: usize) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(LOG_LINES_DROPPED).set(dropped as f64);
}

/// A status code as a label without allocating for the common ones.
fn status_label(status: u16) -> ::metrics::SharedString {
    let common = match status {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return status.to_string().into(),
    };
    common.into()
}
