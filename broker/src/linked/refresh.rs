//! Getting a usable Spotify access token for a link: refreshed shortly before expiry, once per link at a
//! time in this process (a per-link mutex) and across replicas (a lease on the link row), with a rotated
//! refresh token stored before the new access token is used and never dropped: the refresh runs on the
//! main runtime as a tracked task that shutdown waits for, its token call may use the whole lease, and a
//! failed store write is retried until the lease ends.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::runtime::Handle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::{LinkAccess, LinkedAccounts, require_active};
use crate::crypto::DataKey;
use crate::domain::UnixTime;
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::spotify::{AccountsError, SpotifyAccounts};
use crate::store::{Link, RefreshLease, RefreshedTokens, StoreError};
use crate::telemetry::metrics;

/// How often a replica waiting on another's refresh looks at the store.
const LEASE_POLL: Duration = Duration::from_millis(50);
/// Time kept back from the lease for storing the answer of the token call.
const STORE_RESERVE: Duration = Duration::from_secs(2);
/// Pause between attempts to store refreshed tokens while the store fails.
const STORE_RETRY: Duration = Duration::from_millis(200);
/// The window in which many refused links count as one upstream incident.
const INCIDENT_WINDOW_S: i64 = 60;

/// Refreshes in progress: spawned on the main runtime (not on a request worker's, which stops with the
/// server) and tracked, so that shutdown waits for each to store what Spotify answered.
#[derive(Debug, Clone)]
pub struct RefreshTasks {
    runtime: Handle,
    tracker: TaskTracker,
}

impl RefreshTasks {
    /// Uses the runtime this is called on.
    pub fn on_current_runtime() -> Self {
        Self {
            runtime: Handle::current(),
            tracker: TaskTracker::new(),
        }
    }

    fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn_on(task, &self.runtime)
    }

    /// Takes no new refreshes and waits up to `limit` for those under way. Returns whether all finished.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }
}

impl LinkedAccounts {
    /// A Spotify access token for the link that is good for at least the refresh margin. `rejected` is a
    /// token Spotify just answered 401 to: it is refreshed even if it looks unexpired.
    pub async fn access_token(
        &self,
        access: &LinkAccess,
        deadline: Instant,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, ApiError> {
        let link = self.active_link(access).await?;
        match self.usable(&link, rejected) {
            Some(token) => Ok(token),
            None => {
                self.refresh_when_due(access, link, deadline, rejected)
                    .await
            }
        }
    }

    /// The slow path of [`Self::access_token`], in its own span (the common case, a stored token still
    /// good, makes no span: about 3 % of an uncached answer's instructions).
    #[tracing::instrument(skip_all, fields(link_id = %access.link_id))]
    async fn refresh_when_due(
        &self,
        access: &LinkAccess,
        link: Arc<Link>,
        deadline: Instant,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, ApiError> {
        let link_id = &access.link_id;
        let lock = self
            .refresh_locks
            .get_with(*link_id, || Arc::new(tokio::sync::Mutex::new(())));
        let Ok(_guard) = tokio::time::timeout_at(deadline, lock.lock()).await else {
            // Someone here is refreshing and our time is up: a token that has not expired still works.
            return self.fallback(&link, rejected, ApiError::UpstreamUnavailable);
        };
        // Whoever held the lock before us may have refreshed already.
        let link = require_active(self.reload(access).await?)?;
        if let Some(token) = self.usable(&link, rejected) {
            return Ok(token);
        }
        self.refresh_across_replicas(access, link, deadline, rejected)
            .await
    }

    /// The stored access token, unless it is near expiry or is the one Spotify rejected.
    fn usable(&self, link: &Link, rejected: Option<&SecretString>) -> Option<SecretString> {
        let tokens = link.tokens.as_ref()?;
        let fresh =
            tokens.access_expires_at > UnixTime::now().plus_secs(self.settings.refresh_margin_s);
        (fresh && !is_rejected(link, rejected)).then(|| tokens.access_token.clone())
    }

    async fn refresh_across_replicas(
        &self,
        access: &LinkAccess,
        link: Arc<Link>,
        deadline: Instant,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, ApiError> {
        let link_id = link.summary.link_id;
        let mut link = link;
        loop {
            let lease = self
                .store
                .try_acquire_refresh_lease(
                    &link_id,
                    &self.replica_id,
                    link.token_version,
                    self.settings.refresh_lease_s,
                    UnixTime::now(),
                )
                .await?;
            if let Some(lease) = lease {
                return self
                    .refresh_with_lease(access, &link, lease, deadline, rejected)
                    .await;
            }
            // Another replica is refreshing (or just did): wait for a newer version, within the deadline.
            if Instant::now() + LEASE_POLL >= deadline {
                return self.fallback(&link, rejected, ApiError::UpstreamUnavailable);
            }
            tokio::time::sleep(LEASE_POLL).await;
            link = require_active(self.reload(access).await?)?;
            if let Some(token) = self.usable(&link, rejected) {
                return Ok(token);
            }
        }
    }

    /// Runs the refresh as a tracked task, so that it finishes and is stored even when the caller's
    /// deadline passes first or the server shuts down: a dropped answer could lose a rotated refresh token.
    async fn refresh_with_lease(
        &self,
        access: &LinkAccess,
        link: &Link,
        lease: RefreshLease,
        deadline: Instant,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, ApiError> {
        let Some(tokens) = &link.tokens else {
            return Err(ApiError::RelinkRequired("link has no tokens"));
        };
        tracing::info!("refreshing spotify access token");
        let lease_ends = Instant::now()
            + Duration::from_secs(u64::try_from(self.settings.refresh_lease_s).unwrap_or(1));
        let refresh = Refresh {
            lifecycle: Arc::clone(&self.lifecycle),
            accounts: self.accounts.clone(),
            lease,
            refresh_token: tokens.refresh_token.clone(),
            key: access.key.clone(),
            lease_ends,
            confirm_pause: self.settings.invalid_grant_confirm,
            incident_threshold: self.settings.relink_incident_threshold,
        };
        let task = self.refreshes.spawn(refresh.run());
        let outcome = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(outcome)) => outcome?,
            Ok(Err(_)) => RefreshOutcome::Failed(ApiError::UpstreamUnavailable),
            Err(_) => {
                tracing::info!("out of time; the refresh goes on in the background");
                RefreshOutcome::Failed(ApiError::UpstreamUnavailable)
            }
        };
        match outcome {
            RefreshOutcome::Stored(access_token) => {
                self.reload(access).await?;
                Ok(access_token)
            }
            RefreshOutcome::Superseded => {
                let current = require_active(self.reload(access).await?)?;
                self.usable(&current, None)
                    .ok_or(ApiError::UpstreamUnavailable)
            }
            RefreshOutcome::Revoked => Err(ApiError::RelinkRequired(
                "spotify refused the refresh token",
            )),
            RefreshOutcome::Failed(failure) => self.fallback(link, rejected, failure),
            RefreshOutcome::HeldBack => {
                self.fallback(link, rejected, ApiError::UpstreamUnavailable)
            }
        }
    }

    /// When a refresh cannot happen now, a token that has not actually expired (and that Spotify did not
    /// just refuse) is still worth using.
    fn fallback(
        &self,
        link: &Link,
        rejected: Option<&SecretString>,
        failure: ApiError,
    ) -> Result<SecretString, ApiError> {
        match &link.tokens {
            Some(tokens)
                if tokens.access_expires_at > UnixTime::now() && !is_rejected(link, rejected) =>
            {
                Ok(tokens.access_token.clone())
            }
            _ => Err(failure),
        }
    }
}

fn is_rejected(link: &Link, rejected: Option<&SecretString>) -> bool {
    match (&link.tokens, rejected) {
        (Some(tokens), Some(bad)) => bool::from(
            bad.expose_secret()
                .as_bytes()
                .ct_eq(tokens.access_token.expose_secret().as_bytes()),
        ),
        _ => false,
    }
}

/// How a refresh under a lease ended.
#[derive(Debug)]
enum RefreshOutcome {
    /// New tokens are stored; this is the new access token.
    Stored(SecretString),
    /// Someone else changed the link's tokens meanwhile (the lease was lost, or a sibling rotated the
    /// refresh token): read them again.
    Superseded,
    /// Spotify refused the refresh token twice; the link is marked as needing relink (its row is kept).
    Revoked,
    /// A transient failure (or an upstream incident); the lease was given back.
    Failed(ApiError),
    /// Spotify refused the refresh token, but so did it for many links at once: held back as an
    /// upstream incident (answered like a transient failure); the lease was given back.
    HeldBack,
}

/// One refresh under a lease, owned by its task.
struct Refresh {
    lifecycle: Arc<Lifecycle>,
    accounts: SpotifyAccounts,
    lease: RefreshLease,
    refresh_token: SecretString,
    /// The link's data key, to seal what Spotify answers (`None`: the link is still on the key ring).
    key: Option<Arc<DataKey>>,
    lease_ends: Instant,
    confirm_pause: Duration,
    incident_threshold: i64,
}

impl Refresh {
    /// [`Refresh::attempt`], counted in the metrics.
    async fn run(self) -> Result<RefreshOutcome, StoreError> {
        let started = Instant::now();
        let outcome = self.attempt().await;
        let counted = match &outcome {
            Ok(RefreshOutcome::Stored(_)) => metrics::RefreshOutcome::Refreshed,
            Ok(RefreshOutcome::Superseded) => metrics::RefreshOutcome::Superseded,
            Ok(RefreshOutcome::Revoked) => metrics::RefreshOutcome::InvalidGrant,
            Ok(RefreshOutcome::Failed(ApiError::RateLimited { .. })) => {
                metrics::RefreshOutcome::RateLimited
            }
            Ok(RefreshOutcome::HeldBack) => metrics::RefreshOutcome::HeldBack,
            Ok(RefreshOutcome::Failed(_)) => metrics::RefreshOutcome::Failed,
            Err(_) => metrics::RefreshOutcome::StoreFailed,
        };
        metrics::spotify_refresh(counted, started.elapsed());
        outcome
    }

    /// Asks Spotify (twice before believing an `invalid_grant`), then stores the answer (a rotated
    /// refresh token included) before anyone uses it, or marks the link, or gives the lease back.
    async fn attempt(&self) -> Result<RefreshOutcome, StoreError> {
        let mut confirmed = false;
        loop {
            let budget = self
                .lease_ends
                .saturating_duration_since(Instant::now())
                .saturating_sub(STORE_RESERVE);
            match self.accounts.refresh(&self.refresh_token, budget).await {
                Ok(grant) => {
                    let refreshed = RefreshedTokens {
                        access_token: grant.access_token,
                        access_expires_at: grant.access_expires_at,
                        refresh_token: grant.refresh_token,
                    };
                    return self.store(refreshed).await;
                }
                Err(AccountsError::InvalidGrant) if !confirmed => {
                    // Spotify has refused good tokens during incidents: ask once more before believing it.
                    tracing::info!(link_id = %self.lease.link_id, "spotify refused the refresh token; confirming");
                    confirmed = true;
                    tokio::time::sleep(self.confirm_pause).await;
                }
                Err(AccountsError::InvalidGrant) => return self.refused().await,
                Err(err) => {
                    tracing::warn!(link_id = %self.lease.link_id, error = %err, "spotify token refresh failed");
                    self.store_release().await?;
                    return Ok(RefreshOutcome::Failed(match err {
                        AccountsError::RateLimited => ApiError::RateLimited { retry_after_s: 1 },
                        _ => ApiError::UpstreamUnavailable,
                    }));
                }
            }
        }
    }

    /// Stores refreshed tokens, retrying while the store fails and the lease lasts.
    async fn store(&self, refreshed: RefreshedTokens) -> Result<RefreshOutcome, StoreError> {
        let store = self.lifecycle.store();
        loop {
            match store
                .store_refreshed_tokens(
                    &self.lease,
                    &refreshed,
                    self.key.as_deref(),
                    UnixTime::now(),
                )
                .await
            {
                Ok(true) => {
                    self.lifecycle.tokens_refreshed(self.lease.link_id);
                    return Ok(RefreshOutcome::Stored(refreshed.access_token));
                }
                Ok(false) => return Ok(RefreshOutcome::Superseded),
                Err(err) if Instant::now() + STORE_RETRY < self.lease_ends => {
                    tracing::warn!(link_id = %self.lease.link_id, error = ?err, "storing refreshed tokens failed; retrying");
                    tokio::time::sleep(STORE_RETRY).await;
                }
                Err(err) => {
                    tracing::error!(link_id = %self.lease.link_id, error = ?err, "refreshed tokens could not be stored before the lease ended");
                    return Err(err);
                }
            }
        }
    }

    /// Spotify refused the refresh token twice: the link needs relinking, unless so many links were
    /// refused within a minute that Spotify itself is more likely at fault.
    async fn refused(&self) -> Result<RefreshOutcome, StoreError> {
        let store = self.lifecycle.store();
        let now = UnixTime::now();
        let reason = "spotify answered invalid_grant to the refresh token";
        let recent = store
            .relink_marks_since(now.plus_secs(-INCIDENT_WINDOW_S))
            .await?;
        if recent >= self.incident_threshold {
            tracing::error!(
                link_id = %self.lease.link_id,
                refused_in_last_minute = recent,
                "spotify refused refresh tokens of many links at once; treating it as an upstream incident and not marking this link"
            );
            store
                .record_held_back_refusal(&self.lease.link_id, reason, now)
                .await?;
            self.store_release().await?;
            return Ok(RefreshOutcome::HeldBack);
        }
        // A sibling may have rotated the refresh token under us (after our lease expired): only tokens
        // still at the lease's version are marked.
        if self
            .lifecycle
            .mark_relink_required(&self.lease, reason)
            .await?
        {
            Ok(RefreshOutcome::Revoked)
        } else {
            self.store_release().await?;
            Ok(RefreshOutcome::Superseded)
        }
    }

    async fn store_release(&self) -> Result<(), StoreError> {
        self.lifecycle
            .store()
            .release_refresh_lease(&self.lease)
            .await
    }
}
