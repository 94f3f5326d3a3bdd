//! A typed client for the `/sandbox/…` control API, over real HTTP.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::seed::{DeviceSeed, PlayerSeed, PlaylistSeed, RefreshMode, UserPatch, UserSeed};
use crate::state::app::AppPatch;
use crate::state::counters::CounterSnapshot;
use crate::state::faults::{FaultKind, FaultRule};

/// Talks to one sandbox's control API.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    base_url: String,
    http: reqwest::Client,
}

fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

impl SandboxClient {
    /// A client for the sandbox at `base_url`.
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the control client")?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
    }

    async fn send(&self, builder: RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let response = builder
            .send()
            .await
            .context("calling the sandbox control API")?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("sandbox control call failed with {status}: {body}");
        }
        Ok(response)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut builder = self.request(method, path);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.send(builder).await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<T> {
        self.call(method, path, body)
            .await?
            .json()
            .await
            .context("decoding the sandbox control answer")
    }

    /// Adds or replaces a user.
    pub async fn seed_user(&self, user: &UserSeed) -> anyhow::Result<()> {
        self.call(Method::POST, "/sandbox/users", Some(user))
            .await
            .map(drop)
    }

    /// Changes a user's profile and switches.
    pub async fn update_user(&self, id: &str, patch: &UserPatch) -> anyhow::Result<()> {
        self.call(
            Method::PATCH,
            &format!("/sandbox/users/{}", segment(id)),
            Some(patch),
        )
        .await
        .map(drop)
    }

    /// Revokes every grant of a user; returns how many were live.
    pub async fn revoke_grant(&self, user: &str) -> anyhow::Result<u64> {
        let v: Value = self
            .call_json(
                Method::POST,
                &format!("/sandbox/users/{}/revoke", segment(user)),
                None::<&()>,
            )
            .await?;
        Ok(v["revoked_grants"].as_u64().unwrap_or(0))
    }

    /// Expires every access token of a user; returns how many.
    pub async fn expire_access_tokens(&self, user: &str) -> anyhow::Result<u64> {
        let path = format!("/sandbox/users/{}/expire-access-tokens", segment(user));
        let v: Value = self.call_json(Method::POST, &path, None::<&()>).await?;
        Ok(v["expired_access_tokens"].as_u64().unwrap_or(0))
    }

    /// Sets a user's refresh mode.
    pub async fn set_refresh_mode(&self, user: &str, mode: RefreshMode) -> anyhow::Result<()> {
        let path = format!("/sandbox/users/{}/refresh-mode", segment(user));
        self.call(Method::PUT, &path, Some(&json!({ "mode": mode })))
            .await
            .map(drop)
    }

    /// Moves the sandbox clock forward; returns the total offset in seconds.
    pub async fn advance_clock(&self, secs: i64) -> anyhow::Result<i64> {
        let v: Value = self
            .call_json(
                Method::POST,
                "/sandbox/clock/advance",
                Some(&json!({ "seconds": secs })),
            )
            .await?;
        Ok(v["offset_s"].as_i64().unwrap_or(0))
    }

    /// Adds a fault rule.
    pub async fn add_fault(&self, rule: &FaultRule) -> anyhow::Result<()> {
        self.call(Method::POST, "/sandbox/faults", Some(rule))
            .await
            .map(drop)
    }

    /// Answers the next `n` Web API calls (only those whose path starts with `path_prefix`, if given) with `status`.
    pub async fn fail_next(
        &self,
        n: u32,
        status: u16,
        path_prefix: Option<&str>,
    ) -> anyhow::Result<()> {
        self.add_fault(&FaultRule {
            count: n,
            kind: FaultKind::Status { status },
            path_prefix: path_prefix.map(str::to_owned),
            include_token_endpoint: false,
        })
        .await
    }

    /// Answers the next `n` `POST /api/token` calls with `status`.
    pub async fn fail_next_token(&self, n: u32, status: u16) -> anyhow::Result<()> {
        self.add_fault(&FaultRule {
            count: n,
            kind: FaultKind::Status { status },
            path_prefix: Some("/api/token".to_owned()),
            include_token_endpoint: true,
        })
        .await
    }

    /// Answers the next `n` Web API calls with 429 and `Retry-After: retry_after_s`.
    pub async fn rate_limit_next(&self, n: u32, retry_after_s: u64) -> anyhow::Result<()> {
        self.add_fault(&FaultRule {
            count: n,
            kind: FaultKind::RateLimit { retry_after_s },
            path_prefix: None,
            include_token_endpoint: false,
        })
        .await
    }

    /// Answers the next `n` Web API calls with the quota's 429 (`reason: QUOTA_EXCEEDED`).
    pub async fn quota_exceeded_next(
        &self,
        n: u32,
        retry_after_s: Option<u64>,
    ) -> anyhow::Result<()> {
        self.add_fault(&FaultRule {
            count: n,
            kind: FaultKind::QuotaExceeded { retry_after_s },
            path_prefix: None,
            include_token_endpoint: false,
        })
        .await
    }

    /// Changes the app's mode or its owner's Premium (`owner_premium: false` makes every Web API call
    /// of a development-mode app fail until it is set back).
    pub async fn update_app(&self, patch: &AppPatch) -> anyhow::Result<()> {
        self.call(Method::PATCH, "/sandbox/app", Some(patch))
            .await
            .map(drop)
    }

    /// The app's mode, owner's Premium, seats and allowlist.
    pub async fn app(&self) -> anyhow::Result<Value> {
        self.call_json(Method::GET, "/sandbox/app", None::<&()>)
            .await
    }

    /// Drops every pending fault and the latency.
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.call(Method::DELETE, "/sandbox/faults", None::<&()>)
            .await
            .map(drop)
    }

    /// Adds `ms` milliseconds to every non-control call.
    pub async fn set_latency(&self, ms: u64) -> anyhow::Result<()> {
        self.call(Method::PUT, "/sandbox/latency", Some(&json!({ "ms": ms })))
            .await
            .map(drop)
    }

    /// Replaces a user's player state.
    pub async fn set_player(&self, user: &str, player: &PlayerSeed) -> anyhow::Result<()> {
        self.call(
            Method::PUT,
            &format!("/sandbox/users/{}/player", segment(user)),
            Some(player),
        )
        .await
        .map(drop)
    }

    /// Reads back a user's player state.
    pub async fn player(&self, user: &str) -> anyhow::Result<PlayerSeed> {
        self.call_json(
            Method::GET,
            &format!("/sandbox/users/{}/player", segment(user)),
            None::<&()>,
        )
        .await
    }

    /// Replaces a user's devices.
    pub async fn set_devices(&self, user: &str, devices: &[DeviceSeed]) -> anyhow::Result<()> {
        self.call(
            Method::PUT,
            &format!("/sandbox/users/{}/devices", segment(user)),
            Some(&devices),
        )
        .await
        .map(drop)
    }

    /// Reads back a user's devices (volume and which one is active).
    pub async fn devices(&self, user: &str) -> anyhow::Result<Vec<DeviceSeed>> {
        self.call_json(
            Method::GET,
            &format!("/sandbox/users/{}/devices", segment(user)),
            None::<&()>,
        )
        .await
    }

    /// Replaces a user's playlists.
    pub async fn set_playlists(
        &self,
        user: &str,
        playlists: &[PlaylistSeed],
    ) -> anyhow::Result<()> {
        let path = format!("/sandbox/users/{}/playlists", segment(user));
        self.call(Method::PUT, &path, Some(&playlists))
            .await
            .map(drop)
    }

    /// The counters.
    pub async fn counters(&self) -> anyhow::Result<CounterSnapshot> {
        self.call_json(Method::GET, "/sandbox/counters", None::<&()>)
            .await
    }

    /// Sets every counter to zero.
    pub async fn reset_counters(&self) -> anyhow::Result<()> {
        self.call(Method::POST, "/sandbox/counters/reset", None::<&()>)
            .await
            .map(drop)
    }
}
