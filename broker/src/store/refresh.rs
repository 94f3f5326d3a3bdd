//! Refreshing Spotify tokens safely across replicas: a lease on the link row, and writes guarded by the
//! token version so a stale writer never overwrites newer tokens.

use secrecy::SecretString;

use super::sealed::SealedField;
use super::{Actor, AuditKind, ChangeKind, Sealing, Store, StoreError};
use crate::crypto::DataKey;
use crate::domain::{LinkId, UnixTime};

/// A refresh lease held by one process on one link.
#[derive(Debug, Clone)]
pub struct RefreshLease {
    pub link_id: LinkId,
    pub owner: String,
    /// The token version the lease was taken at; the refreshed tokens are written only if it still holds.
    pub token_version: i64,
}

/// What a refresh produced, ready to store.
#[derive(Debug)]
pub struct RefreshedTokens {
    pub access_token: SecretString,
    pub access_expires_at: UnixTime,
    /// A rotated refresh token; `None` keeps the stored one.
    pub refresh_token: Option<SecretString>,
}

impl Store {
    /// Takes the refresh lease of an active link for `ttl_s` seconds, if nobody holds a live one and the
    /// tokens are still at `token_version`.
    pub async fn try_acquire_refresh_lease(
        &self,
        link_id: &LinkId,
        owner: &str,
        token_version: i64,
        ttl_s: i64,
        now: UnixTime,
    ) -> Result<Option<RefreshLease>, StoreError> {
        let taken = sqlx::query(
            "update link set refresh_lease_owner = $2, refresh_lease_until = $3
             where link_id = $1 and token_version = $4 and status = 'active'
               and (refresh_lease_until is null or refresh_lease_until < $5)",
        )
        .bind(link_id.to_string())
        .bind(owner)
        .bind(now.plus_secs(ttl_s).as_secs())
        .bind(token_version)
        .bind(now.as_secs())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok((taken == 1).then(|| RefreshLease {
            link_id: *link_id,
            owner: owner.to_owned(),
            token_version,
        }))
    }

    /// Stores refreshed tokens and releases the lease, only while the lease is still ours. Returns false
    /// when it was lost (expired and taken over, or the link changed), in which case nothing was written.
    pub async fn store_refreshed_tokens(
        &self,
        lease: &RefreshLease,
        tokens: &RefreshedTokens,
        key: Option<&DataKey>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let id = lease.link_id.to_string();
        let access = self.seal_link_field(
            key,
            &lease.link_id,
            SealedField::SpotifyAccessToken,
            &tokens.access_token,
        )?;
        let refresh = tokens
            .refresh_token
            .as_ref()
            .map(|token| {
                self.seal_link_field(key, &lease.link_id, SealedField::SpotifyRefreshToken, token)
            })
            .transpose()?;
        // Never written under another sealing than the link has (no downgrade to the key ring).
        let sealing = if key.is_some() {
            Sealing::DataKey
        } else {
            Sealing::KeyRing
        };
        let mut tx = self.begin_write().await?;
        let written = sqlx::query(
            "update link set spotify_access_token = $4, spotify_access_expires_at = $5,
                 spotify_refresh_token = coalesce($6, spotify_refresh_token),
                 token_version = token_version + 1, refresh_lease_owner = null,
                 refresh_lease_until = null, updated_at = $7, last_refreshed_at = $7
             where link_id = $1 and refresh_lease_owner = $2 and token_version = $3
               and status = 'active' and sealed_by = $8",
        )
        .bind(&id)
        .bind(&lease.owner)
        .bind(lease.token_version)
        .bind(access)
        .bind(tokens.access_expires_at.as_secs())
        .bind(refresh)
        .bind(now.as_secs())
        .bind(sealing.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if written != 1 {
            return Ok(false);
        }
        self.record_change(&mut tx, &lease.link_id, ChangeKind::TokensRefreshed, now)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Gives a lease back without writing tokens (the refresh failed transiently).
    pub async fn release_refresh_lease(&self, lease: &RefreshLease) -> Result<(), StoreError> {
        sqlx::query(
            "update link set refresh_lease_owner = null, refresh_lease_until = null
             where link_id = $1 and refresh_lease_owner = $2",
        )
        .bind(lease.link_id.to_string())
        .bind(&lease.owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a link as needing relink (Spotify said `invalid_grant`), keeping its row and tokens, if the
    /// tokens are still the ones that failed. Returns whether it was marked.
    pub async fn mark_relink_required(
        &self,
        lease: &RefreshLease,
        reason: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "update link set status = 'relink_required', refresh_lease_owner = null,
                 refresh_lease_until = null, updated_at = $4
             where link_id = $1 and refresh_lease_owner = $2 and token_version = $3
               and status = 'active'",
        )
        .bind(lease.link_id.to_string())
        .bind(&lease.owner)
        .bind(lease.token_version)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            return Ok(false);
        }
        self.record_change(&mut tx, &lease.link_id, ChangeKind::RelinkRequired, now)
            .await?;
        self.record_audit(
            &mut tx,
            &lease.link_id,
            AuditKind::RelinkRequired,
            Actor::Broker,
            Some(reason),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many links were marked relink-required since `since`: many at once is an upstream incident.
    pub async fn relink_marks_since(&self, since: UnixTime) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "select count(*) from link_change where kind = 'relink_required' and created_at >= $1",
        )
        .bind(since.as_secs())
        .fetch_one(self.pool())
        .await?)
    }

    /// Records that a link's refusal was held back as part of an upstream incident.
    pub async fn record_held_back_refusal(
        &self,
        link_id: &LinkId,
        reason: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        self.record_audit(
            &mut tx,
            link_id,
            AuditKind::RelinkHeldBack,
            Actor::Broker,
            Some(reason),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
