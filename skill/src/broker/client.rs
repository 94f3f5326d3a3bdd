//! The typed HTTP client for the broker: every call carries the service token, Alexa's user id, the
//! user's token (when there is one) and the deadline.

use std::time::Duration;

use broker_proto::{
    ALEXA_USER_ID_HEADER, CACHE_HEADER, DEADLINE_HEADER, LinkStatusBody, SERVICE_TOKEN_HEADER,
};
use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use url::Url;

use super::error::BrokerError;
use crate::deadline::Deadline;
use crate::identifiers::{AlexaAccessToken, ServiceToken, UserId};
use crate::telemetry::metrics;

/// Whether the link works (the broker's `status` in `GET /v1/link`).
pub use broker_proto::LinkState as LinkStatus;

/// `GET /v1/link`, with its times read.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// The broker's id for the link.
    pub link_id: String,
    /// Whether it works.
    pub status: LinkStatus,
    /// The Spotify account's display name.
    pub display_name: Option<String>,
    /// When the user consented.
    pub authorized_at: Option<DateTime<Utc>>,
    /// When the user must relink at the latest (Spotify refresh tokens die six months after consent).
    pub relink_due_at: Option<DateTime<Utc>>,
}

impl LinkInfo {
    /// Whether the user must link again before Spotify works.
    pub fn needs_relink(&self) -> bool {
        matches!(
            self.status,
            LinkStatus::RelinkRequired | LinkStatus::Revoked
        )
    }

    fn from_body(body: LinkStatusBody) -> Result<Self, String> {
        let time = |what: &str, text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| format!("{what}: {e}"))
        };
        Ok(Self {
            authorized_at: Some(time("authorized_at", &body.authorized_at)?),
            relink_due_at: Some(time("relink_due_at", &body.relink_due_at)?),
            link_id: body.link_id,
            status: body.status,
            display_name: body.display_name,
        })
    }
}

/// Who a broker call is for: Alexa's user id (sent on every call, so the broker can bind it to the
/// link) and the user's linked token (absent only when a disabled skill's event carries none).
#[derive(Debug, Clone, Copy)]
pub struct ForUser<'a> {
    /// `Authorization: Bearer`, when there is a token.
    pub token: Option<&'a AlexaAccessToken>,
    /// `X-Alexa-User-Id`, when Alexa named the user.
    pub user: Option<&'a UserId>,
}

impl<'a> ForUser<'a> {
    /// The user holding `token`, named `user` by Alexa.
    pub fn new(token: &'a AlexaAccessToken, user: Option<&'a UserId>) -> Self {
        Self {
            token: Some(token),
            user,
        }
    }
}

/// `X-Broker-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// Answered from cache.
    Hit,
    /// Fetched from Spotify.
    Miss,
    /// Cached entry revalidated with Spotify.
    Revalidated,
    /// A stale cached entry (Spotify too slow or failing).
    Stale,
}

/// A successful pass-through answer.
#[derive(Debug, Clone)]
pub struct SpotifyReply {
    /// The HTTP status (200, 202, 204…).
    pub status: u16,
    /// The JSON body, absent for 204 or an empty body.
    pub body: Option<serde_json::Value>,
    /// Where the broker got it.
    pub cache: Option<CacheStatus>,
}

/// The broker client (cheap to clone).
#[derive(Debug, Clone)]
pub struct BrokerClient {
    http: reqwest::Client,
    base: Url,
    service_token: ServiceToken,
}

const MAX_BODY_BYTES: usize = 512 * 1024;

impl BrokerClient {
    /// A client for the broker at `base` (ending in `/`); never follows redirects, each call is bounded
    /// by its deadline.
    pub fn new(base: Url, service_token: ServiceToken) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            http,
            base,
            service_token,
        })
    }

    fn url(&self, path: &str) -> Result<Url, BrokerError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| BrokerError::Unexpected {
                status: 0,
                detail: format!("bad broker path {path:?}: {e}"),
            })
    }

    /// Sends one call and returns status, body and cache header of a 2xx answer; counted in the metrics.
    async fn send(
        &self,
        method: Method,
        url: Url,
        json_body: Option<&serde_json::Value>,
        who: ForUser<'_>,
        deadline: Deadline,
    ) -> Result<(u16, Vec<u8>, Option<CacheStatus>), BrokerError> {
        let started = std::time::Instant::now();
        let answer = self.exchange(method, url, json_body, who, deadline).await;
        metrics::broker_call(answer.as_ref().map(|_| ()), started.elapsed());
        answer
    }

    async fn exchange(
        &self,
        method: Method,
        url: Url,
        json_body: Option<&serde_json::Value>,
        who: ForUser<'_>,
        deadline: Deadline,
    ) -> Result<(u16, Vec<u8>, Option<CacheStatus>), BrokerError> {
        let remaining = deadline.remaining();
        if remaining < Duration::from_millis(20) {
            return Err(BrokerError::DeadlineExceeded);
        }
        let bearer = who
            .token
            .map(|token| HeaderValue::from_str(&format!("Bearer {}", token.expose())))
            .transpose()
            .map_err(|_| BrokerError::RelinkRequired)?;
        let user = who
            .user
            .map(|user| HeaderValue::from_str(user.as_str()))
            .transpose()
            .map_err(|_| BrokerError::Unexpected {
                status: 0,
                detail: "alexa user id is not a valid header value".into(),
            })?;
        let service = HeaderValue::from_str(self.service_token.expose()).map_err(|_| {
            BrokerError::Unexpected {
                status: 0,
                detail: "service token is not a valid header value".into(),
            }
        })?;
        let mut request = self
            .http
            .request(method.clone(), url)
            .timeout(remaining)
            .header(SERVICE_TOKEN_HEADER, service)
            .header(DEADLINE_HEADER, remaining.as_millis().to_string());
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer);
        }
        if let Some(user) = user {
            request = request.header(ALEXA_USER_ID_HEADER, user);
        }
        request = match json_body {
            Some(body) => request.json(body),
            // Spotify wants a length on bodiless PUT/POST.
            None if method != Method::GET => request.body(Vec::<u8>::new()),
            None => request,
        };
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                BrokerError::DeadlineExceeded
            } else {
                BrokerError::Transport(e.without_url().to_string())
            }
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let cache = response
            .headers()
            .get(CACHE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
                "hit" => Some(CacheStatus::Hit),
                "miss" => Some(CacheStatus::Miss),
                "revalidated" => Some(CacheStatus::Revalidated),
                "stale" => Some(CacheStatus::Stale),
                _ => None,
            });
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY_BYTES {
                        return Err(BrokerError::Unexpected {
                            status,
                            detail: "answer too large".into(),
                        });
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(BrokerError::DeadlineExceeded),
                Err(e) => return Err(BrokerError::Transport(e.without_url().to_string())),
            }
        }
        if !(200..300).contains(&status) {
            return Err(BrokerError::from_response(status, &body, retry_after));
        }
        Ok((status, body, cache))
    }

    /// `GET /v1/link`: the user's link status (also binds the user id to the link at the broker).
    #[tracing::instrument(skip_all)]
    pub async fn link(
        &self,
        who: ForUser<'_>,
        deadline: Deadline,
    ) -> Result<LinkInfo, BrokerError> {
        let url = self.url("v1/link")?;
        let (status, body, _) = self.send(Method::GET, url, None, who, deadline).await?;
        serde_json::from_slice::<LinkStatusBody>(&body)
            .map_err(|e| e.to_string())
            .and_then(LinkInfo::from_body)
            .map_err(|e| BrokerError::Unexpected {
                status,
                detail: format!("link body: {e}"),
            })
    }

    /// `POST /v1/link/revoke`: unlinks the user (the skill was disabled), found by the token when
    /// there is one, else by the user id.
    #[tracing::instrument(skip_all)]
    pub async fn revoke(&self, who: ForUser<'_>, deadline: Deadline) -> Result<(), BrokerError> {
        let url = self.url("v1/link/revoke")?;
        self.send(Method::POST, url, None, who, deadline).await?;
        Ok(())
    }

    /// `/v1/spotify/{path}` with `query`: Spotify's answer passed through.
    #[tracing::instrument(skip(self, query, body, who, deadline), fields(method = %method))]
    pub async fn spotify(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        who: ForUser<'_>,
        deadline: Deadline,
    ) -> Result<SpotifyReply, BrokerError> {
        let mut url = self.url(&format!("v1/spotify/{}", path.trim_start_matches('/')))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let (status, raw, cache) = self.send(method, url, body, who, deadline).await?;
        tracing::debug!(status, ?cache, "spotify via broker");
        let body = if status == 204 || raw.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(
                serde_json::from_slice(&raw).map_err(|e| BrokerError::Unexpected {
                    status,
                    detail: format!("spotify body is not JSON: {e}"),
                })?,
            )
        };
        Ok(SpotifyReply {
            status,
            body,
            cache,
        })
    }
}
