//! What the key ring still seals (links not yet moved to a data key, pending authorizations' PKCE
//! verifiers): re-sealing it under the active key, and counting it per key id, so that retiring a key is a
//! checked step.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;
use sqlx::Row;

use super::links::aad;
use super::sealed::SealedField;
use super::{Store, StoreError};
use crate::crypto::KeyRing;
use crate::domain::{LinkId, TokenHash};

/// Rows read per query.
const PAGE: i64 = 200;

/// How a rewrap went, so far or in the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RewrapReport {
    /// Rows sealed by the key ring that were looked at.
    pub examined: u64,
    /// Rows re-sealed under the active key.
    pub rewrapped: u64,
    /// Rows that did not open (a key missing from the ring, or tampering): named, never their content.
    pub failed: Vec<String>,
}

/// What the key ring seals, per key id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyUsage {
    /// Sealed values per key id (each link counts its sealed fields; each pending authorization one).
    pub sealed_values_by_key: BTreeMap<String, u64>,
    /// Links still sealed by the key ring: they move to their own data key at their next refresh grant.
    pub links_on_key_ring: u64,
    /// Links sealed under their own data key (the key ring cannot open them).
    pub links_on_data_keys: u64,
    /// Values whose key id cannot be read (damaged rows).
    pub unreadable: u64,
}

impl Store {
    /// Rows sealed by the key ring: links not moved yet, and pending authorizations.
    pub async fn key_ring_rows(&self) -> Result<u64, StoreError> {
        let links: i64 = sqlx::query_scalar(
            "select count(*) from link where sealed_by = 'key_ring' and spotify_refresh_token is not null",
        )
        .fetch_one(self.pool())
        .await?;
        let pending: i64 = sqlx::query_scalar("select count(*) from pending_authorization")
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(links + pending).unwrap_or(0))
    }

    /// Re-seals everything the key ring seals under its active key. Rows changed concurrently are skipped
    /// (whatever changed them sealed under the active key); a row that does not open is reported and
    /// passed over. `progress` sees the report after each row.
    pub async fn rewrap_tokens(&self) -> Result<RewrapReport, StoreError> {
        self.rewrap_with_progress(|_| {}).await
    }

    /// [`Store::rewrap_tokens`], reporting progress.
    pub async fn rewrap_with_progress(
        &self,
        mut progress: impl FnMut(&RewrapReport),
    ) -> Result<RewrapReport, StoreError> {
        let mut report = RewrapReport::default();
        self.rewrap_links(&mut report, &mut progress).await?;
        self.rewrap_pending(&mut report, &mut progress).await?;
        Ok(report)
    }

    fn is_stale(&self, sealed: &[u8]) -> bool {
        KeyRing::key_id_of(sealed).map_or(true, |id| id != self.keys().active_key_id().as_str())
    }

    async fn rewrap_links(
        &self,
        report: &mut RewrapReport,
        progress: &mut impl FnMut(&RewrapReport),
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "select link_id, token_version, spotify_refresh_token, spotify_access_token from link
                 where link_id > $1 and spotify_refresh_token is not null and sealed_by = 'key_ring'
                 order by link_id limit $2",
            )
            .bind(&after)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.try_get("link_id")?;
            for row in &rows {
                report.examined += 1;
                let raw_id: String = row.try_get("link_id")?;
                let refresh: Vec<u8> = row.try_get("spotify_refresh_token")?;
                let access: Option<Vec<u8>> = row.try_get("spotify_access_token")?;
                if self.is_stale(&refresh) || access.as_deref().is_some_and(|a| self.is_stale(a)) {
                    match self
                        .reseal_link(
                            &raw_id,
                            row.try_get("token_version")?,
                            &refresh,
                            access.as_deref(),
                        )
                        .await
                    {
                        Ok(changed) => report.rewrapped += changed,
                        Err(StoreError::Cipher(_) | StoreError::Corrupt(_)) => {
                            report.failed.push(format!("link {raw_id}"));
                        }
                        Err(other) => return Err(other),
                    }
                }
                progress(report);
            }
        }
    }

    async fn reseal_link(
        &self,
        raw_id: &str,
        token_version: i64,
        refresh: &[u8],
        access: Option<&[u8]>,
    ) -> Result<u64, StoreError> {
        let link_id = LinkId::parse(raw_id).map_err(|_| StoreError::Corrupt("link_id"))?;
        let reseal = |sealed: &[u8], field| -> Result<Vec<u8>, StoreError> {
            let aad = aad(&link_id, field);
            let plain = self.keys().open(sealed, &aad)?;
            Ok(self.keys().seal(plain.expose_secret(), &aad)?)
        };
        let refresh = reseal(refresh, SealedField::SpotifyRefreshToken)?;
        let access = access
            .map(|a| reseal(a, SealedField::SpotifyAccessToken))
            .transpose()?;
        Ok(sqlx::query(
            "update link set spotify_refresh_token = $3, spotify_access_token = $4
             where link_id = $1 and token_version = $2 and sealed_by = 'key_ring'",
        )
        .bind(raw_id)
        .bind(token_version)
        .bind(refresh)
        .bind(access)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    async fn rewrap_pending(
        &self,
        report: &mut RewrapReport,
        progress: &mut impl FnMut(&RewrapReport),
    ) -> Result<(), StoreError> {
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "select state_hash, spotify_code_verifier from pending_authorization
                 where state_hash > $1 order by state_hash limit $2",
            )
            .bind(&after)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.try_get("state_hash")?;
            for row in &rows {
                report.examined += 1;
                let state_hash: String = row.try_get("state_hash")?;
                let sealed: Vec<u8> = row.try_get("spotify_code_verifier")?;
                if self.is_stale(&sealed) {
                    let aad = SealedField::SpotifyCodeVerifier
                        .of_pending(&TokenHash::from_stored(&state_hash));
                    match self.keys().open(&sealed, &aad) {
                        Ok(plain) => {
                            let resealed = self.keys().seal(plain.expose_secret(), &aad)?;
                            report.rewrapped += sqlx::query(
                                "update pending_authorization set spotify_code_verifier = $2
                                 where state_hash = $1 and spotify_code_verifier = $3",
                            )
                            .bind(&state_hash)
                            .bind(resealed)
                            .bind(&sealed)
                            .execute(self.pool())
                            .await?
                            .rows_affected();
                        }
                        Err(_) => report
                            .failed
                            .push(format!("pending authorization {state_hash}")),
                    }
                }
                progress(report);
            }
        }
    }

    /// How much each key id of the ring still seals, and how many links no longer need the ring.
    pub async fn key_usage(&self) -> Result<KeyUsage, StoreError> {
        let mut usage = KeyUsage::default();
        let count = |sealed: &[u8], usage: &mut KeyUsage| match KeyRing::key_id_of(sealed) {
            Ok(id) => *usage.sealed_values_by_key.entry(id.to_owned()).or_default() += 1,
            Err(_) => usage.unreadable += 1,
        };
        let links = sqlx::query(
            "select sealed_by, spotify_refresh_token, spotify_access_token from link
             where spotify_refresh_token is not null",
        )
        .fetch_all(self.pool())
        .await?;
        for row in &links {
            if row.try_get::<String, _>("sealed_by")? == "data_key" {
                usage.links_on_data_keys += 1;
                continue;
            }
            usage.links_on_key_ring += 1;
            for column in ["spotify_refresh_token", "spotify_access_token"] {
                if let Some(sealed) = row.try_get::<Option<Vec<u8>>, _>(column)? {
                    count(&sealed, &mut usage);
                }
            }
        }
        let pending = sqlx::query("select spotify_code_verifier from pending_authorization")
            .fetch_all(self.pool())
            .await?;
        for row in &pending {
            count(
                &row.try_get::<Vec<u8>, _>("spotify_code_verifier")?,
                &mut usage,
            );
        }
        Ok(usage)
    }
}
