//! The Spotify-for-a-user service: one allowlisted call for a linked user, through the cache, within the
//! caller's deadline, with every failure normalized.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use super::allowlist::CachePolicy;
use super::cache::{CacheKey, CachedAnswer, FetchTicket, ResponseCache};
use super::{Admission, Cooldown, Endpoint, PauseKind};
use crate::config::Freshness;
use crate::domain::LinkId;
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::linked::{LinkAccess, LinkedAccounts};
use crate::spotify::{ApiRequest, ApiResponse, CallError, Failure, WebApi, classify, path_only};
use crate::telemetry::metrics::{self, CacheEvent, SpotifyOutcome};

/// Tuning for the proxy.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Budget when the caller sends no `X-Request-Deadline-Ms`.
    pub default_deadline: Duration,
    /// The longest budget a caller may ask for.
    pub max_deadline: Duration,
    /// How long a background fetch that fills the cache may take.
    pub fetch_budget: Duration,
    /// The longest `Retry-After` passed on (and paused for).
    pub max_retry_after_s: u64,
    /// Fresh lifetimes of cached answers.
    pub freshness: Freshness,
}

/// Where an answer came from (`X-Broker-Cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Hit,
    Miss,
    Revalidated,
    Stale,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Revalidated => "revalidated",
            Self::Stale => "stale",
        }
    }
}

/// The outcome of a coalesced fetch, shared by every caller waiting on it.
#[derive(Debug, Clone)]
pub enum Fetched {
    Answer(Arc<CachedAnswer>, Source),
    Failed(Arc<ApiError>),
}

/// One call for a linked user, already authenticated and allowlisted.
#[derive(Debug)]
pub struct ProxyCall {
    pub access: LinkAccess,
    pub endpoint: Endpoint,
    pub request: ApiRequest,
    pub deadline: Instant,
}

/// Spotify's answer, from the cache or straight from upstream.
#[derive(Debug)]
pub enum Answer {
    Cached(Arc<CachedAnswer>, Source),
    Direct(ApiResponse),
}

impl Answer {
    pub fn status(&self) -> u16 {
        match self {
            Self::Cached(answer, _) => answer.status,
            Self::Direct(response) => response.status,
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        match self {
            Self::Cached(answer, _) => answer.content_type.as_deref(),
            Self::Direct(response) => response.content_type.as_deref(),
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Self::Cached(answer, _) => &answer.body,
            Self::Direct(response) => &response.body,
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Self::Cached(_, source) => *source,
            Self::Direct(_) => Source::Miss,
        }
    }
}

/// Spotify for linked users: token handling, upstream discipline and the cache.
pub struct Proxy {
    linked: Arc<LinkedAccounts>,
    lifecycle: Arc<Lifecycle>,
    web: WebApi,
    cache: Arc<ResponseCache<Fetched>>,
    cooldown: Arc<Cooldown>,
    settings: ProxySettings,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    pub fn new(
        linked: Arc<LinkedAccounts>,
        lifecycle: Arc<Lifecycle>,
        web: WebApi,
        cache: Arc<ResponseCache<Fetched>>,
        cooldown: Arc<Cooldown>,
        settings: ProxySettings,
    ) -> Self {
        Self {
            linked,
            lifecycle,
            web,
            cache,
            cooldown,
            settings,
        }
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The app-wide pauses (linking reports the owner's refusal there too).
    pub fn cooldown(&self) -> &Cooldown {
        &self.cooldown
    }

    /// Answers one call: from the cache for cacheable reads, else straight from Spotify. A player
    /// command that Spotify accepted makes cached player state wrong on every replica.
    pub async fn forward(self: &Arc<Self>, call: ProxyCall) -> Result<Answer, ApiError> {
        let ProxyCall {
            access,
            endpoint,
            request,
            deadline,
        } = call;
        if let Some(policy) = endpoint.cache_policy(&self.settings.freshness) {
            let key = CacheKey {
                link_id: access.link_id,
                endpoint,
                path_and_query: request.path_and_query.clone(),
            };
            return self
                .cached_get(access, key, request, policy, deadline)
                .await;
        }
        let response = self.upstream(&access, endpoint, &request, deadline).await?;
        if endpoint.changes_player() {
            self.lifecycle.player_changed(access.link_id);
        }
        Ok(Answer::Direct(response))
    }

    /// A cacheable GET: fresh entry, else one shared fetch awaited until the deadline, else a stale entry
    /// when the failure is transient (Spotify failing or slow, or the app-wide pause).
    async fn cached_get(
        self: &Arc<Self>,
        access: LinkAccess,
        key: CacheKey,
        request: ApiRequest,
        policy: CachePolicy,
        deadline: Instant,
    ) -> Result<Answer, ApiError> {
        let cached = self.cache.get(&key);
        if let Some(entry) = cached.as_ref().filter(|entry| entry.is_fresh()) {
            metrics::cache_event(CacheEvent::Answered(Source::Hit));
            return Ok(Answer::Cached(Arc::clone(entry), Source::Hit));
        }
        let stale_or = |err: &ApiError| match &cached {
            Some(entry) if err.is_transient() => {
                metrics::cache_event(CacheEvent::Answered(Source::Stale));
                Ok(Answer::Cached(Arc::clone(entry), Source::Stale))
            }
            _ => Err(err.for_another_caller()),
        };
        if let Some(paused) = self.cooldown.paused() {
            return stale_or(&paused);
        }
        let ticket = self.cache.ticket();
        let (flight, joined) = self.cache.join_or_start(
            &key,
            Arc::clone(self).fetch_into_cache(
                access,
                key.clone(),
                request,
                policy,
                cached.clone(),
                ticket,
            ),
        );
        if joined {
            metrics::cache_event(CacheEvent::Coalesced);
        }
        match tokio::time::timeout_at(deadline, flight).await {
            Ok(Some(Fetched::Answer(answer, source))) => {
                metrics::cache_event(CacheEvent::Answered(source));
                Ok(Answer::Cached(answer, source))
            }
            Ok(Some(Fetched::Failed(err))) => stale_or(&err),
            Ok(None) | Err(_) => stale_or(&ApiError::UpstreamUnavailable),
        }
    }

    /// Calls Spotify as the link's user: refreshes once and retries once on 401, honours the app-wide
    /// pauses, and tells them what Spotify's answer means for the app as a whole.
    async fn upstream(
        &self,
        access: &LinkAccess,
        endpoint: Endpoint,
        request: &ApiRequest,
        deadline: Instant,
    ) -> Result<ApiResponse, ApiError> {
        if self.cooldown.admit()? == Admission::Probe {
            tracing::info!("probing whether spotify serves the app again");
        }
        let token = self.linked.access_token(access, deadline, None).await?;
        let mut response = self.call(endpoint, request, &token, deadline).await?;
        if response.status == 401 {
            let retry = self
                .linked
                .access_token(access, deadline, Some(&token))
                .await?;
            if bool::from(
                retry
                    .expose_secret()
                    .as_bytes()
                    .ct_eq(token.expose_secret().as_bytes()),
            ) {
                return Err(ApiError::UpstreamUnavailable);
            }
            response = self.call(endpoint, request, &retry, deadline).await?;
        }
        let failure = classify(&response, 1);
        match &failure {
            Some(Failure::OwnerLacksPremium) => self.cooldown.owner_lacks_premium(),
            Some(Failure::Unavailable | Failure::RateLimited(_) | Failure::QuotaExceeded(_)) => {}
            _ => self.cooldown.spotify_answered(),
        }
        match failure {
            None => Ok(response),
            Some(failure) => Err(self.normalize(&access.link_id, failure)),
        }
    }

    async fn call(
        &self,
        endpoint: Endpoint,
        request: &ApiRequest,
        token: &SecretString,
        deadline: Instant,
    ) -> Result<ApiResponse, ApiError> {
        let started = Instant::now();
        let outcome = self.web.call(request, token, deadline).await;
        let elapsed = started.elapsed();
        match outcome {
            Ok(response) => {
                metrics::spotify_request(
                    endpoint,
                    SpotifyOutcome::of_status(response.status),
                    elapsed,
                );
                Ok(response)
            }
            Err(err) => {
                let path = path_only(&request.path_and_query);
                let outcome = match &err {
                    CallError::OutOfTime => {
                        tracing::info!(path, "spotify call out of time");
                        SpotifyOutcome::OutOfTime
                    }
                    CallError::Unreachable(cause) => {
                        tracing::warn!(path, error = %cause, "spotify unreachable");
                        SpotifyOutcome::Unreachable
                    }
                };
                metrics::spotify_request(endpoint, outcome, elapsed);
                Err(ApiError::UpstreamUnavailable)
            }
        }
    }

    fn normalize(&self, link_id: &LinkId, failure: Failure) -> ApiError {
        match failure {
            Failure::Unauthorized => {
                ApiError::RelinkRequired("spotify still refuses the refreshed token")
            }
            Failure::ScopeMissing => {
                ApiError::RelinkRequired("spotify needs new consent for a scope")
            }
            Failure::UserNotRegistered | Failure::OwnerLacksPremium => {
                self.lifecycle.app_refused(
                    Some(*link_id),
                    "spotify refuses the app for this user: not on the app's allowlist, or the \
                     owner lacks premium",
                );
                ApiError::AppNotPermitted
            }
            Failure::PremiumRequired => ApiError::PremiumRequired,
            Failure::NoActiveDevice => ApiError::NoActiveDevice,
            Failure::Forbidden => ApiError::Forbidden,
            Failure::NotFound => ApiError::NotFound,
            Failure::BadRequest(message) => ApiError::BadRequest(message),
            Failure::RateLimited(seconds) => {
                let retry_after_s = self.retry_after(seconds);
                self.cooldown
                    .pause(PauseKind::RateLimit, Duration::from_secs(retry_after_s));
                tracing::warn!(retry_after_s, "spotify rate limited the app; pausing calls");
                ApiError::RateLimited { retry_after_s }
            }
            Failure::QuotaExceeded(seconds) => {
                let retry_after_s = self.retry_after(seconds);
                self.cooldown
                    .pause(PauseKind::Quota, Duration::from_secs(retry_after_s));
                tracing::warn!(
                    retry_after_s,
                    "spotify says the app's quota is used up; pausing calls"
                );
                ApiError::QuotaExceeded { retry_after_s }
            }
            Failure::Unavailable => ApiError::UpstreamUnavailable,
        }
    }

    /// Spotify's `Retry-After`, capped (never slept on: the pause answers at once).
    fn retry_after(&self, seconds: u64) -> u64 {
        seconds.clamp(1, self.settings.max_retry_after_s.max(1))
    }

    /// Fetches a cacheable GET on its own budget and stores the answer; revalidates `stale` by ETag.
    async fn fetch_into_cache(
        self: Arc<Self>,
        access: LinkAccess,
        key: CacheKey,
        mut request: ApiRequest,
        policy: CachePolicy,
        stale: Option<Arc<CachedAnswer>>,
        ticket: FetchTicket,
    ) -> Fetched {
        let revalidating = stale
            .as_ref()
            .filter(|_| policy.revalidate)
            .and_then(|s| s.etag.clone().map(|etag| (s, etag)));
        request.if_none_match = revalidating.as_ref().map(|(_, etag)| etag.clone());
        let deadline = Instant::now() + self.settings.fetch_budget;
        let response = match self
            .upstream(&access, key.endpoint, &request, deadline)
            .await
        {
            Ok(response) => response,
            Err(err) => return Fetched::Failed(Arc::new(err)),
        };
        // A 304 renews the stale entry; anything else is a new answer, stored unless `no-store`.
        let (answer, source, fresh) = match (response.status, revalidating) {
            (304, Some((stale, etag))) => (
                (
                    stale.status,
                    stale.content_type.clone(),
                    Some(etag),
                    stale.body.clone(),
                ),
                Source::Revalidated,
                Some(policy.fresh),
            ),
            _ => (
                (
                    response.status,
                    response.content_type,
                    response.etag,
                    response.body,
                ),
                Source::Miss,
                fresh_lifetime(policy, response.cache_control.as_deref()),
            ),
        };
        let (status, content_type, etag, body) = answer;
        let stored = fresh.is_some() && (200..300).contains(&status);
        // A body fresh from upstream is a slice of the HTTP client's connection read buffer: kept in the
        // cache it would pin that whole buffer (kilobytes per entry, unseen by the cache's weigher), so
        // the cache keeps an exact copy instead.
        let body = if stored && source == Source::Miss {
            Bytes::copy_from_slice(&body)
        } else {
            body
        };
        let now = Instant::now();
        let fresh_until = now + fresh.unwrap_or_default();
        let answer = Arc::new(CachedAnswer {
            status,
            content_type,
            etag,
            body,
            fresh_until,
            stale_until: fresh_until + policy.stale,
        });
        if stored {
            self.cache.put(key, Arc::clone(&answer), ticket);
        }
        Fetched::Answer(answer, source)
    }
}

/// How long an answer stays fresh: the endpoint's policy, shortened by a positive upstream `max-age`;
/// `None` when upstream says `no-store`. (Spotify marks every answer `max-age=0`; that blanket value is
/// not read as "never reuse", or nothing could be cached.)
fn fresh_lifetime(policy: CachePolicy, cache_control: Option<&str>) -> Option<Duration> {
    let directives = cache_control.unwrap_or_default().to_ascii_lowercase();
    if directives.split(',').any(|d| d.trim() == "no-store") {
        return None;
    }
    let max_age = directives
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0);
    Some(max_age.map_or(policy.fresh, |s| policy.fresh.min(Duration::from_secs(s))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_cache_control_shortens_or_forbids() {
        let policy = CachePolicy {
            fresh: Duration::from_secs(30),
            stale: Duration::from_secs(60),
            revalidate: true,
        };
        assert_eq!(fresh_lifetime(policy, None), Some(Duration::from_secs(30)));
        assert_eq!(
            fresh_lifetime(policy, Some("private, max-age=0")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            fresh_lifetime(policy, Some("public, max-age=5")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            fresh_lifetime(policy, Some("max-age=500")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(fresh_lifetime(policy, Some("no-store")), None);
    }
}
