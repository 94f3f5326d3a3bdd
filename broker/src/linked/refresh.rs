//! Getting a usable Spotify access token for a link: refreshed shortly before expiry, once per link at a
//! time in this process (a per-link mutex) and across replicas (a lease on the link row), with a rotated
//! refresh token stored before the new access token is used.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::LinkedAccounts;
use crate::domain::{LinkId, UnixTime};
use crate::error::ApiError;
use crate::spotify::AccountsError;
use crate::store::{Link, RefreshLease, RefreshedTokens};

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
        let link = self.require_active(link)?;
        if let Some(token) = self.usable(&link, rejected) {
            return Ok(token);
        }
        self.refresh_across_replicas(link, deadline, rejected).await
    }

    fn require_active(&self, link: Arc<Link>) -> Result<Arc<Link>, ApiError> {
        match (&link.summary.status, &link.tokens) {
            (crate::store::LinkStatus::Active, Some(_)) => Ok(link),
            _ => Err(ApiError::RelinkRequired("link is not active")),
        }
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
            link = self.require_active(self.reload(&link_id).await?)?;
            if let Some(token) = self.usable(&link, rejected) {
                return Ok(token);
            }
        }
    }

    async fn refresh_with_lease(
        &self,
        link: &Link,
        lease: RefreshLease,
        deadline: Instant,
    ) -> Result<SecretString, ApiError> {
        let Some(tokens) = &link.tokens else {
            return Err(ApiError::RelinkRequired("link has no tokens"));
        };
        let budget = deadline.saturating_duration_since(Instant::now());
        tracing::info!("refreshing spotify access token");
        match self.accounts.refresh(&tokens.refresh_token, budget).await {
            Ok(grant) => {
                let refreshed = RefreshedTokens {
                    access_token: grant.access_token,
                    access_expires_at: grant.access_expires_at,
                    refresh_token: grant.refresh_token,
                };
                let now = UnixTime::now();
                if !self
                    .store
                    .store_refreshed_tokens(&lease, &refreshed, now)
                    .await?
                {
                    // The lease was lost: someone else wrote newer tokens; use those.
                    let link = self.require_active(self.reload(&link.summary.link_id).await?)?;
                    return self
                        .usable(&link, None)
                        .ok_or(ApiError::UpstreamUnavailable);
                }
                self.reload(&link.summary.link_id).await?;
                Ok(refreshed.access_token)
            }
            Err(AccountsError::InvalidGrant) => {
                // A sibling may have rotated the refresh token under us: look again before giving up.
                let current = self.reload(&link.summary.link_id).await?;
                if current.token_version != link.token_version {
                    self.store.release_refresh_lease(&lease).await?;
                    let current = self.require_active(current)?;
                    return self
                        .usable(&current, None)
                        .ok_or(ApiError::UpstreamUnavailable);
                }
                self.store
                    .mark_relink_required(&lease, UnixTime::now())
                    .await?;
                self.forget(&link.summary.link_id).await;
                tracing::warn!("spotify refused the refresh token; link needs relinking");
                Err(ApiError::RelinkRequired(
                    "spotify refused the refresh token",
                ))
            }
            Err(err) => {
                tracing::warn!(error = %err, "spotify token refresh failed");
                self.store.release_refresh_lease(&lease).await?;
                let failure = match err {
                    AccountsError::RateLimited => ApiError::RateLimited { retry_after_s: 1 },
                    _ => ApiError::UpstreamUnavailable,
                };
                self.fallback(link, failure)
            }
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
