//! Getting a usable Spotify access token for a link: refreshed shortly before expiry, once per link at a
//! time in this process (a per-link mutex) and across replicas (a lease on the link row), with a rotated
//! refresh token stored before the new access token is used.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{LinkedAccounts, require_active};
use crate::domain::{LinkId, UnixTime};
use crate::error::ApiError;
use crate::spotify::{AccountsError, SpotifyAccounts};
use crate::store::{Link, RefreshLease, RefreshedTokens, Store, StoreError};

/// How often a replica waiting on another's refresh looks at the store.
const LEASE_POLL: Duration = Duration::from_millis(50);

impl LinkedAccounts {
    /// A Spotify access token for the link that is good for at least the refresh margin. `rejected` is a
    /// token Spotify just answered 401 to: it is refreshed even if it looks unexpired.
    #[tracing::instrument(skip_all, fields(link_id = %link_id))]
    pub async fn access_token(
        &self,
        link_id: &LinkId,
        deadline: Instant,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, ApiError> {
        let link = self.active_link(link_id).await?;
        if let Some(token) = self.usable(&link, rejected) {
            return Ok(token);
        }
        let lock = self
            .refresh_locks
            .get_with(*link_id, async { Arc::new(tokio::sync::Mutex::new(())) })
            .await;
        let _guard = tokio::time::timeout_at(deadline, lock.lock())
            .await
            .map_err(|_| ApiError::UpstreamUnavailable)?;
        // Whoever held the lock before us may have refreshed already.
        let link = self.reload(link_id).await?;
        let link = require_active(link)?;
        if let Some(token) = self.usable(&link, rejected) {
            return Ok(token);
        }
        self.refresh_across_replicas(link, deadline, rejected).await
    }

    /// The stored access token, unless it is near expiry or is the one Spotify rejected.
    fn usable(&self, link: &Link, rejected: Option<&SecretString>) -> Option<SecretString> {
        let tokens = link.tokens.as_ref()?;
        let fresh =
            tokens.access_expires_at > UnixTime::now().plus_secs(self.settings.refresh_margin_s);
        let is_rejected =
            rejected.is_some_and(|bad| bad.expose_secret() == tokens.access_token.expose_secret());
        (fresh && !is_rejected).then(|| tokens.access_token.clone())
    }

    async fn refresh_across_replicas(
        &self,
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
                return self.refresh_with_lease(&link, lease, deadline).await;
            }
            // Another replica is refreshing (or just did): wait for a newer version, within the deadline.
            if Instant::now() + LEASE_POLL >= deadline {
                return self.fallback(&link, ApiError::UpstreamUnavailable);
            }
            tokio::time::sleep(LEASE_POLL).await;
            link = require_active(self.reload(&link_id).await?)?;
            if let Some(token) = self.usable(&link, rejected) {
                return Ok(token);
            }
        }
    }

    /// Runs the refresh on its own task, so that it finishes and is stored even when the caller's
    /// deadline passes first: a refresh whose answer were dropped could lose a rotated refresh token.
    async fn refresh_with_lease(
        &self,
        link: &Link,
        lease: RefreshLease,
        deadline: Instant,
    ) -> Result<SecretString, ApiError> {
        let Some(tokens) = &link.tokens else {
            return Err(ApiError::RelinkRequired("link has no tokens"));
        };
        tracing::info!("refreshing spotify access token");
        let task = tokio::spawn(refresh_and_store(
            self.store.clone(),
            self.accounts.clone(),
            lease,
            tokens.refresh_token.clone(),
            Duration::from_secs(u64::try_from(self.settings.refresh_lease_s / 2).unwrap_or(1)),
        ));
        let link_id = link.summary.link_id;
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
                self.reload(&link_id).await?;
                Ok(access_token)
            }
            RefreshOutcome::Superseded => {
                let current = require_active(self.reload(&link_id).await?)?;
                self.usable(&current, None)
                    .ok_or(ApiError::UpstreamUnavailable)
            }
            RefreshOutcome::Revoked => {
                self.forget(&link_id).await;
                Err(ApiError::RelinkRequired(
                    "spotify refused the refresh token",
                ))
            }
            RefreshOutcome::Failed(failure) => self.fallback(link, failure),
        }
    }

    /// When a refresh cannot happen now, a token that has not actually expired is still worth using.
    fn fallback(&self, link: &Link, failure: ApiError) -> Result<SecretString, ApiError> {
        match &link.tokens {
            Some(tokens) if tokens.access_expires_at > UnixTime::now() => {
                Ok(tokens.access_token.clone())
            }
            _ => Err(failure),
        }
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
    /// Spotify refused the refresh token; the link is marked as needing relink (its row is kept).
    Revoked,
    /// A transient failure; the lease was given back.
    Failed(ApiError),
}

/// One refresh under a lease: ask Spotify, then store the answer (a rotated refresh token included)
/// before anyone uses it, or mark the link, or give the lease back.
async fn refresh_and_store(
    store: Store,
    accounts: SpotifyAccounts,
    lease: RefreshLease,
    refresh_token: SecretString,
    timeout: Duration,
) -> Result<RefreshOutcome, StoreError> {
    match accounts.refresh(&refresh_token, timeout).await {
        Ok(grant) => {
            let refreshed = RefreshedTokens {
                access_token: grant.access_token,
                access_expires_at: grant.access_expires_at,
                refresh_token: grant.refresh_token,
            };
            if store
                .store_refreshed_tokens(&lease, &refreshed, UnixTime::now())
                .await?
            {
                Ok(RefreshOutcome::Stored(refreshed.access_token))
            } else {
                Ok(RefreshOutcome::Superseded)
            }
        }
        Err(AccountsError::InvalidGrant) => {
            // A sibling may have rotated the refresh token under us (after our lease expired): only
            // tokens still at the lease's version are marked.
            if store.mark_relink_required(&lease, UnixTime::now()).await? {
                tracing::warn!(link_id = %lease.link_id, "spotify refused the refresh token; link needs relinking");
                Ok(RefreshOutcome::Revoked)
            } else {
                store.release_refresh_lease(&lease).await?;
                Ok(RefreshOutcome::Superseded)
            }
        }
        Err(err) => {
            tracing::warn!(link_id = %lease.link_id, error = %err, "spotify token refresh failed");
            store.release_refresh_lease(&lease).await?;
            Ok(RefreshOutcome::Failed(match err {
                AccountsError::RateLimited => ApiError::RateLimited { retry_after_s: 1 },
                _ => ApiError::UpstreamUnavailable,
            }))
        }
    }
}
