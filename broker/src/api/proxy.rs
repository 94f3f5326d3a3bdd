//! `/v1/spotify/{path}`: forwards an allowlisted call to Spotify for the linked user, through the cache,
//! with the caller's deadline, and renders any failure as one normalized error.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::allowlist::CachePolicy;
use super::cache::{CacheKey, CachedAnswer, ResponseCache};
use super::{Cooldown, Endpoint, credentials, deadline};
use crate::domain::LinkId;
use crate::error::ApiError;
use crate::linked::LinkedAccounts;
use crate::spotify::{ApiRequest, ApiResponse, CallError, Failure, WebApi, classify, path_only};
use crate::state::SharedState;

const PREFIX: &str = "/v1/spotify";
const CACHE_HEADER: &str = "x-broker-cache";

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
    pub freshness: super::Freshness,
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
    fn as_str(self) -> &'static str {
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

/// Spotify for linked users: token handling, upstream discipline and the cache.
pub struct Proxy {
    linked: Arc<LinkedAccounts>,
    web: WebApi,
    cache: ResponseCache<Fetched>,
    cooldown: Cooldown,
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
        web: WebApi,
        cache: ResponseCache<Fetched>,
        settings: ProxySettings,
    ) -> Self {
        Self {
            linked,
            web,
            cache,
            cooldown: Cooldown::default(),
            settings,
        }
    }

    pub fn linked(&self) -> &Arc<LinkedAccounts> {
        &self.linked
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The app-wide pause after a Spotify 429.
    pub fn cooldown(&self) -> &Cooldown {
        &self.cooldown
    }

    /// Records this replica's pause in the store for the others (they read it with the change feed);
    /// in the background, so the caller's answer does not wait on the database.
    fn share_pause(&self) {
        let store = self.linked.store().clone();
        let until_ms = i64::try_from(self.cooldown.until_ms()).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            if let Err(err) = store
                .record_rate_limit_pause(until_ms, crate::domain::UnixTime::now())
                .await
            {
                tracing::warn!(error = ?err, "could not share the rate-limit pause");
            }
        });
    }

    /// Drops everything cached for a link, here.
    pub async fn forget_link(&self, link_id: &LinkId) {
        self.linked.forget(link_id).await;
        self.cache.forget_link(*link_id);
    }

    /// Calls Spotify as the link's user: refreshes once and retries once on 401, honours the 429 pause.
    async fn upstream(
        &self,
        link_id: &LinkId,
        request: &ApiRequest,
        deadline: Instant,
    ) -> Result<ApiResponse, ApiError> {
        if let Some(retry_after_s) = self.cooldown.remaining_s() {
            return Err(ApiError::RateLimited { retry_after_s });
        }
        let token = self.linked.access_token(link_id, deadline, None).await?;
        let mut response = self.call(request, &token, deadline).await?;
        if response.status == 401 {
            let retry = self
                .linked
                .access_token(link_id, deadline, Some(&token))
                .await?;
            if retry.expose_secret() == token.expose_secret() {
                return Err(ApiError::UpstreamUnavailable);
            }
            response = self.call(request, &retry, deadline).await?;
        }
        match classify(&response, 1) {
            None => Ok(response),
            Some(failure) => Err(self.normalize(failure)),
        }
    }

    async fn call(
        &self,
        request: &ApiRequest,
        token: &secrecy::SecretString,
        deadline: Instant,
    ) -> Result<ApiResponse, ApiError> {
        self.web.call(request, token, deadline).await.map_err(|err| {
            match &err {
                CallError::OutOfTime => tracing::info!(path = path_only(&request.path_and_query), "spotify call out of time"),
                CallError::Unreachable(cause) => tracing::warn!(path = path_only(&request.path_and_query), error = %cause, "spotify unreachable"),
            }
            ApiError::UpstreamUnavailable
        })
    }

    fn normalize(&self, failure: Failure) -> ApiError {
        match failure {
            Failure::Unauthorized => {
                ApiError::RelinkRequired("spotify still refuses the refreshed token")
            }
            Failure::ScopeMissing => {
                ApiError::RelinkRequired("spotify needs new consent for a scope")
            }
            Failure::AppNotPermitted => ApiError::AppNotPermitted,
            Failure::PremiumRequired => ApiError::PremiumRequired,
            Failure::NoActiveDevice => ApiError::NoActiveDevice,
            Failure::Forbidden => ApiError::Forbidden,
            Failure::NotFound => ApiError::NotFound,
            Failure::BadRequest(message) => ApiError::BadRequest(message),
            Failure::RateLimited(seconds) => {
                let retry_after_s = seconds.clamp(1, self.settings.max_retry_after_s);
                self.cooldown.trip(Duration::from_secs(retry_after_s));
                self.share_pause();
                tracing::warn!(retry_after_s, "spotify rate limited the app; pausing calls");
                ApiError::RateLimited { retry_after_s }
            }
            Failure::Unavailable => ApiError::UpstreamUnavailable,
        }
    }

    /// Fetches a cacheable GET on its own budget and stores the answer; revalidates `stale` by ETag.
    async fn fetch_into_cache(
        self: Arc<Self>,
        key: CacheKey,
        mut request: ApiRequest,
        policy: CachePolicy,
        stale: Option<Arc<CachedAnswer>>,
    ) -> Fetched {
        let revalidating = stale
            .as_ref()
            .filter(|_| policy.revalidate)
            .and_then(|s| s.etag.clone().map(|etag| (s, etag)));
        request.if_none_match = revalidating.as_ref().map(|(_, etag)| etag.clone());
        let deadline = Instant::now() + self.settings.fetch_budget;
        let response = match self.upstream(&key.link_id, &request, deadline).await {
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
        if fresh.is_some() && (200..300).contains(&status) {
            self.cache.put(key, Arc::clone(&answer)).await;
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

fn render(
    status: u16,
    content_type: Option<&str>,
    body: &web::Bytes,
    source: Source,
) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    response
        .insert_header((CACHE_HEADER, source.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::NO_CONTENT || body.is_empty() {
        return response.finish();
    }
    if let Some(content_type) = content_type {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    response.body(body.clone())
}

fn render_answer(answer: &CachedAnswer, source: Source) -> HttpResponse {
    render(
        answer.status,
        answer.content_type.as_deref(),
        &answer.body,
        source,
    )
}

fn render_error(err: &ApiError) -> HttpResponse {
    let mut response = err.error_response();
    response.headers_mut().insert(
        header::HeaderName::from_static(CACHE_HEADER),
        header::HeaderValue::from_static("miss"),
    );
    response
}

/// The handler behind every `/v1/*` path that is not link status.
pub async fn forward(
    request: HttpRequest,
    payload: web::Payload,
    state: SharedState,
) -> Result<HttpResponse, ApiError> {
    credentials::require_service(&request, &state.service_tokens)?;
    let path = request
        .path()
        .strip_prefix(PREFIX)
        .ok_or(ApiError::NotFound)?;
    let endpoint = Endpoint::resolve(request.method(), path).ok_or(ApiError::NotFound)?;
    let proxy = &state.proxy;
    let deadline = deadline::from_request(
        &request,
        proxy.settings.default_deadline,
        proxy.settings.max_deadline,
    )?;
    let link_id = proxy
        .linked
        .authenticate(&credentials::bearer(&request)?)
        .await?;
    proxy.linked.active_link(&link_id).await?;
    let path_and_query = match request.query_string() {
        "" => path.to_owned(),
        query => format!("{path}?{query}"),
    };
    let body = if request.method() == Method::GET {
        None
    } else {
        let body = crate::body::read_limited(payload, state.max_body_bytes)
            .await
            .map_err(|err| ApiError::BadRequest(err.to_string()))?;
        (!body.is_empty()).then_some(body)
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let api_request = ApiRequest {
        method: reqwest::Method::from_bytes(request.method().as_str().as_bytes())
            .map_err(|_| ApiError::NotFound)?,
        path_and_query: path_and_query.clone(),
        body,
        content_type,
        if_none_match: None,
    };
    match endpoint.cache_policy(&proxy.settings.freshness) {
        Some(policy) => Ok(cached_get(
            proxy,
            CacheKey {
                link_id,
                endpoint,
                path_and_query,
            },
            api_request,
            policy,
            deadline,
        )
        .await),
        None => {
            let response = match proxy.upstream(&link_id, &api_request, deadline).await {
                Ok(response) => response,
                Err(err) => return Ok(render_error(&err)),
            };
            if endpoint.changes_player() {
                proxy.cache.forget_player_state(link_id);
            }
            Ok(render(
                response.status,
                response.content_type.as_deref(),
                &response.body,
                Source::Miss,
            ))
        }
    }
}

/// A cacheable GET: fresh entry, else one shared fetch awaited until the deadline, else a stale entry.
async fn cached_get(
    proxy: &Arc<Proxy>,
    key: CacheKey,
    request: ApiRequest,
    policy: CachePolicy,
    deadline: Instant,
) -> HttpResponse {
    let cached = proxy.cache.get(&key).await;
    if let Some(entry) = cached.as_ref().filter(|entry| entry.is_fresh()) {
        return render_answer(entry, Source::Hit);
    }
    let stale_or = |err: &ApiError| match &cached {
        Some(entry) if !matches!(err, ApiError::RelinkRequired(_)) => {
            render_answer(entry, Source::Stale)
        }
        _ => render_error(err),
    };
    if let Some(retry_after_s) = proxy.cooldown.remaining_s() {
        return stale_or(&ApiError::RateLimited { retry_after_s });
    }
    let flight = proxy.cache.join_or_start(
        &key,
        Arc::clone(proxy).fetch_into_cache(key.clone(), request, policy, cached.clone()),
    );
    match tokio::time::timeout_at(deadline, flight).await {
        Ok(Some(Fetched::Answer(answer, source))) => render_answer(&answer, source),
        Ok(Some(Fetched::Failed(err))) => stale_or(&err),
        Ok(None) | Err(_) => stale_or(&ApiError::UpstreamUnavailable),
    }
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
