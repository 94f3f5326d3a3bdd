//! Links: one row per Spotify account, with its Spotify tokens sealed under the key ring.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditKind, insert_event};
use super::sealed::SealedField;
use super::{ChangeKind, Store, StoreError};
use crate::crypto::{CipherError, DataKey, FieldAad};
use crate::domain::{AdminId, LinkId, SpotifyUserId, TokenHash, UnixTime};

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Tokens are usable.
    Active,
    /// Spotify refused the refresh token; the row and its tokens are kept until the user relinks.
    RelinkRequired,
    /// An operator or the user revoked the link; its tokens are destroyed.
    Revoked,
}

impl LinkStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::RelinkRequired, Self::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::RelinkRequired => "relink_required",
            Self::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "active" => Ok(Self::Active),
            "relink_required" => Ok(Self::RelinkRequired),
            "revoked" => Ok(Self::Revoked),
            _ => Err(StoreError::Corrupt("unknown link status")),
        }
    }
}

/// Who changed a link, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator through the admin API, with the admin token they used (by its id).
    Admin(AdminId),
    /// An operator through the `broker` command line.
    Cli,
    /// The user: linking, or disabling the skill.
    User,
    /// An OAuth client through RFC 7009 revocation.
    OAuthClient,
    /// The broker itself (Spotify refused a refresh token, a replayed code, an expired token family).
    Broker,
}

/// As stored: `admin:<id>`, `cli`, `user`, `oauth_client`, `broker`.
impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Admin(id) => write!(f, "admin:{id}"),
            Self::Cli => f.write_str("cli"),
            Self::User => f.write_str("user"),
            Self::OAuthClient => f.write_str("oauth_client"),
            Self::Broker => f.write_str("broker"),
        }
    }
}

/// What a revoke found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    AlreadyRevoked,
    NotFound,
}

/// What a restore found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restoration {
    Restored,
    /// The link is active, revoked, or has no tokens left.
    NotRestorable,
    NotFound,
}

/// What a link's Spotify tokens are sealed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sealing {
    /// The key ring: a link stored before per-link data keys, until its next refresh grant.
    KeyRing,
    /// The link's own data key, wrapped for each broker secret Alexa holds.
    DataKey,
}

impl Sealing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyRing => "key_ring",
            Self::DataKey => "data_key",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "key_ring" => Ok(Self::KeyRing),
            "data_key" => Ok(Self::DataKey),
            _ => Err(StoreError::Corrupt("unknown sealing")),
        }
    }
}

/// How moving a legacy link to a data key ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMove {
    /// The tokens are now sealed under the new key, wrapped for the presented secret.
    Moved,
    /// Another request moved it first (with another key); read the presented secret's wrap again.
    AlreadyMoved,
}

/// A user's Spotify tokens, opened.
#[derive(Debug, Clone)]
pub struct SpotifyTokens {
    pub access_token: SecretString,
    pub access_expires_at: UnixTime,
    pub refresh_token: SecretString,
}

/// What the linking flow learned about a user.
#[derive(Debug)]
pub struct NewLink {
    pub spotify_user_id: SpotifyUserId,
    pub display_name: Option<String>,
    pub scopes: String,
    pub tokens: SpotifyTokens,
}

/// A link's metadata: everything but the tokens.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkSummary {
    pub link_id: LinkId,
    #[serde(serialize_with = "serialize_display")]
    pub spotify_user_id: SpotifyUserId,
    pub display_name: Option<String>,
    pub status: LinkStatus,
    pub scopes: String,
    pub sealed_by: Sealing,
    #[serde(serialize_with = "serialize_time")]
    pub authorized_at: UnixTime,
    #[serde(serialize_with = "serialize_time")]
    pub updated_at: UnixTime,
}

/// A link with its opened tokens (`None` once destroyed) and the version that guards concurrent updates.
#[derive(Debug, Clone)]
pub struct Link {
    pub summary: LinkSummary,
    pub token_version: i64,
    pub tokens: Option<SpotifyTokens>,
}

fn serialize_display<S: serde::Serializer>(v: &SpotifyUserId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn serialize_time<S: serde::Serializer>(v: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_rfc3339())
}

const SUMMARY_COLUMNS: &str =
    "link_id, spotify_user_id, display_name, status, scopes, sealed_by, authorized_at, updated_at";

pub(crate) fn aad(link_id: &LinkId, field: SealedField) -> FieldAad {
    field.of_link(link_id)
}

impl Store {
    /// Seals a Spotify token of a link: under its data key, or under the key ring for a link that has
    /// not moved to a data key yet (`None`).
    pub(crate) fn seal_link_field(
        &self,
        key: Option<&DataKey>,
        link_id: &LinkId,
        field: SealedField,
        plaintext: &SecretString,
    ) -> Result<Vec<u8>, StoreError> {
        let aad = aad(link_id, field);
        Ok(match key {
            Some(key) => key.seal(plaintext.expose_secret(), &aad)?,
            None => self.keys().seal(plaintext.expose_secret(), &aad)?,
        })
    }

    /// Opens a Spotify token of a link with whatever sealed it: a value sealed under a data key opens only
    /// with that key, never with the key ring.
    fn open_link_field(
        &self,
        key: Option<&DataKey>,
        link_id: &LinkId,
        field: SealedField,
        sealed: &[u8],
    ) -> Result<SecretString, StoreError> {
        let aad = aad(link_id, field);
        if DataKey::sealed_it(sealed) {
            let key = key.ok_or(StoreError::Cipher(CipherError::Tampered))?;
            Ok(key.open(sealed, &aad)?)
        } else {
            Ok(self.keys().open(sealed, &aad)?)
        }
    }
}

pub(super) fn summary_from_row(row: &AnyRow) -> Result<LinkSummary, StoreError> {
    let link_id: String = row.try_get("link_id")?;
    let spotify_user_id: String = row.try_get("spotify_user_id")?;
    let status: String = row.try_get("status")?;
    Ok(LinkSummary {
        link_id: LinkId::parse(&link_id).map_err(|_| StoreError::Corrupt("link_id"))?,
        spotify_user_id: SpotifyUserId::parse(&spotify_user_id)
            .map_err(|_| StoreError::Corrupt("spotify_user_id"))?,
        display_name: row.try_get("display_name")?,
        status: LinkStatus::parse(&status)?,
        scopes: row.try_get("scopes")?,
        sealed_by: Sealing::parse(&row.try_get::<String, _>("sealed_by")?)?,
        authorized_at: UnixTime::from_secs(row.try_get("authorized_at")?),
        updated_at: UnixTime::from_secs(row.try_get("updated_at")?),
    })
}

impl Store {
    /// Stores a new link, or replaces the tokens of the existing link of the same Spotify account
    /// (keeping its id), sealed under `key`, in one transaction. A relink starts a new data key: every
    /// earlier broker token and code of the link is revoked, since its wrap opens only the old key.
    #[tracing::instrument(skip_all, fields(spotify_user_id = %link.spotify_user_id))]
    pub async fn upsert_link(
        &self,
        link: &NewLink,
        key: &DataKey,
        now: UnixTime,
    ) -> Result<(LinkId, ChangeKind), StoreError> {
        // Two attempts: a concurrent first link of the same account makes the insert find a row.
        for _ in 0..2 {
            let existing: Option<String> =
                sqlx::query_scalar("select link_id from link where spotify_user_id = $1")
                    .bind(link.spotify_user_id.as_str())
                    .fetch_optional(self.pool())
                    .await?;
            let (link_id, fresh) = match existing {
                Some(raw) => (
                    LinkId::parse(&raw).map_err(|_| StoreError::Corrupt("link_id"))?,
                    false,
                ),
                None => (LinkId::generate(), true),
            };
            let refresh = self.seal_link_field(
                Some(key),
                &link_id,
                SealedField::SpotifyRefreshToken,
                &link.tokens.refresh_token,
            )?;
            let access = self.seal_link_field(
                Some(key),
                &link_id,
                SealedField::SpotifyAccessToken,
                &link.tokens.access_token,
            )?;
            let mut tx = self.begin_write().await?;
            let written = if fresh {
                sqlx::query(
                    "insert into link (link_id, spotify_user_id, display_name, status, scopes,
                         spotify_refresh_token, spotify_access_token, spotify_access_expires_at,
                         authorized_at, token_version, created_at, updated_at, sealed_by)
                     values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, 0, $8, $8, 'data_key')
                     on conflict (spotify_user_id) do nothing",
                )
            } else {
                sqlx::query(
                    "update link set display_name = $3, status = 'active', scopes = $4,
                         spotify_refresh_token = $5, spotify_access_token = $6,
                         spotify_access_expires_at = $7, authorized_at = $8,
                         token_version = token_version + 1, refresh_lease_owner = null,
                         refresh_lease_until = null, updated_at = $8, sealed_by = 'data_key'
                     where link_id = $1 and spotify_user_id = $2",
                )
            }
            .bind(link_id.to_string())
            .bind(link.spotify_user_id.as_str())
            .bind(link.display_name.as_deref())
            .bind(&link.scopes)
            .bind(refresh)
            .bind(access)
            .bind(link.tokens.access_expires_at.as_secs())
            .bind(now.as_secs())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written == 1 {
                let (kind, audited) = if fresh {
                    (ChangeKind::Linked, AuditKind::Linked)
                } else {
                    self.revoke_earlier_grants(&mut tx, &link_id, now).await?;
                    (ChangeKind::Relinked, AuditKind::Relinked)
                };
                self.record_change(&mut tx, &link_id, kind, now).await?;
                self.record_audit(&mut tx, &link_id, audited, Actor::User, None, now)
                    .await?;
                tx.commit().await?;
                return Ok((link_id, kind));
            }
        }
        Err(StoreError::Corrupt(
            "link changed identity while being stored",
        ))
    }

    /// A link's metadata, without opening any token.
    pub async fn link_summary(&self, link_id: &LinkId) -> Result<Option<LinkSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "select {SUMMARY_COLUMNS} from link where link_id = $1"
        ))
        .bind(link_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    /// Links in id order, `limit` at a time, starting after `after`.
    pub async fn list_links(
        &self,
        after: Option<&LinkId>,
        limit: i64,
    ) -> Result<Vec<LinkSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "select {SUMMARY_COLUMNS} from link where link_id > $1 order by link_id limit $2"
        ))
        .bind(after.map(ToString::to_string).unwrap_or_default())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// A link with its Spotify tokens opened: with `key` (the link's data key, unwrapped with a broker
    /// secret) or, for a link not moved to a data key yet, with the key ring. Without its key, a link
    /// sealed under a data key comes back with its tokens closed (`None`).
    #[tracing::instrument(skip_all, fields(link_id = %link_id))]
    pub async fn link(
        &self,
        link_id: &LinkId,
        key: Option<&DataKey>,
    ) -> Result<Option<Link>, StoreError> {
        let row = sqlx::query(&format!(
            "select {SUMMARY_COLUMNS}, token_version, spotify_refresh_token, spotify_access_token,
                 spotify_access_expires_at
             from link where link_id = $1"
        ))
        .bind(link_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let summary = summary_from_row(&row)?;
        let refresh: Option<Vec<u8>> = row.try_get("spotify_refresh_token")?;
        let access: Option<Vec<u8>> = row.try_get("spotify_access_token")?;
        let expires: Option<i64> = row.try_get("spotify_access_expires_at")?;
        let tokens = match (refresh, access) {
            // Sealed under a data key and no key presented: the tokens stay closed.
            (Some(refresh), Some(_)) if DataKey::sealed_it(&refresh) && key.is_none() => None,
            (Some(refresh), Some(access)) => Some(SpotifyTokens {
                refresh_token: self.open_link_field(
                    key,
                    link_id,
                    SealedField::SpotifyRefreshToken,
                    &refresh,
                )?,
                access_token: self.open_link_field(
                    key,
                    link_id,
                    SealedField::SpotifyAccessToken,
                    &access,
                )?,
                access_expires_at: UnixTime::from_secs(expires.unwrap_or_default()),
            }),
            _ => None,
        };
        Ok(Some(Link {
            summary,
            token_version: row.try_get("token_version")?,
            tokens,
        }))
    }

    /// Destroys a link's Spotify tokens (crypto-shredding), revokes its broker tokens and unused codes,
    /// forgets which Alexa users used it, and records who did it. A second revoke changes and records
    /// nothing. Takes the link row's lock first, like every other writer of a link.
    #[tracing::instrument(skip_all, fields(link_id = %link_id, actor = %actor))]
    pub async fn revoke_link(
        &self,
        link_id: &LinkId,
        actor: Actor,
        now: UnixTime,
    ) -> Result<Revocation, StoreError> {
        let id = link_id.to_string();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "update link set status = 'revoked', spotify_refresh_token = null,
                 spotify_access_token = null, spotify_access_expires_at = null,
                 token_version = token_version + 1, refresh_lease_owner = null,
                 refresh_lease_until = null, updated_at = $2
             where link_id = $1 and status <> 'revoked'",
        )
        .bind(&id)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let exists: Option<String> =
                sqlx::query_scalar("select link_id from link where link_id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(if exists.is_some() {
                Revocation::AlreadyRevoked
            } else {
                Revocation::NotFound
            });
        }
        sqlx::query(
            "update broker_token set revoked_at = $2, wrapped_data_key = null
             where link_id = $1 and revoked_at is null",
        )
        .bind(&id)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from authorization_code where link_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from link_alexa_user where link_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        self.record_change(&mut tx, link_id, ChangeKind::Revoked, now)
            .await?;
        self.record_audit(&mut tx, link_id, AuditKind::Revoked, actor, None, now)
            .await?;
        tx.commit().await?;
        Ok(Revocation::Revoked)
    }

    /// Puts a link marked relink-required whose Spotify tokens are kept back into service.
    #[tracing::instrument(skip_all, fields(link_id = %link_id, actor = %actor))]
    pub async fn restore_link(
        &self,
        link_id: &LinkId,
        actor: Actor,
        now: UnixTime,
    ) -> Result<Restoration, StoreError> {
        let id = link_id.to_string();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "update link set status = 'active', token_version = token_version + 1,
                 refresh_lease_owner = null, refresh_lease_until = null, updated_at = $2
             where link_id = $1 and status = 'relink_required'
               and spotify_refresh_token is not null",
        )
        .bind(&id)
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            let status: Option<String> =
                sqlx::query_scalar("select status from link where link_id = $1")
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match status {
                Some(_) => Restoration::NotRestorable,
                None => Restoration::NotFound,
            });
        }
        self.record_change(&mut tx, link_id, ChangeKind::Restored, now)
            .await?;
        self.record_audit(&mut tx, link_id, AuditKind::Restored, actor, None, now)
            .await?;
        tx.commit().await?;
        Ok(Restoration::Restored)
    }

    /// Remembers (as a hash) that an Alexa user uses a link; a user moves with their latest link.
    pub async fn bind_alexa_user(
        &self,
        user_hash: &TokenHash,
        link_id: &LinkId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into link_alexa_user (alexa_user_hash, link_id, bound_at) values ($1, $2, $3)
             on conflict (alexa_user_hash) do update set link_id = excluded.link_id,
                 bound_at = excluded.bound_at",
        )
        .bind(user_hash.as_str())
        .bind(link_id.to_string())
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The link an Alexa user was last seen using.
    pub async fn link_of_alexa_user(
        &self,
        user_hash: &TokenHash,
    ) -> Result<Option<LinkId>, StoreError> {
        let raw: Option<String> =
            sqlx::query_scalar("select link_id from link_alexa_user where alexa_user_hash = $1")
                .bind(user_hash.as_str())
                .fetch_optional(self.pool())
                .await?;
        raw.map(|raw| LinkId::parse(&raw).map_err(|_| StoreError::Corrupt("link_id")))
            .transpose()
    }

    /// The link behind a broker access token that was never revoked, expired or not (Alexa sends the
    /// last token it had when the user disables the skill).
    pub async fn link_of_unrevoked_access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<LinkId>, StoreError> {
        let raw: Option<String> = sqlx::query_scalar(
            "select link_id from broker_token
             where token_hash = $1 and kind = 'access' and revoked_at is null",
        )
        .bind(hash.as_str())
        .fetch_optional(self.pool())
        .await?;
        raw.map(|raw| LinkId::parse(&raw).map_err(|_| StoreError::Corrupt("link_id")))
            .transpose()
    }

    pub(crate) async fn record_audit(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        link_id: &LinkId,
        kind: AuditKind,
        actor: Actor,
        reason: Option<&str>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        insert_event(tx, Some(link_id), kind, actor, reason, now).await
    }
}

impl Store {
    /// Revokes every broker token and unspent code of a link (a relink replaced its data key, which their
    /// wraps opened). The caller holds the link's row.
    async fn revoke_earlier_grants(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        link_id: &LinkId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        for sql in [
            "update broker_token set revoked_at = $2, wrapped_data_key = null
             where link_id = $1 and revoked_at is null",
            "update authorization_code set revoked_at = $2, wrapped_data_key = null
             where link_id = $1 and revoked_at is null",
        ] {
            sqlx::query(sql)
                .bind(link_id.to_string())
                .bind(now.as_secs())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Moves a link still sealed by the key ring to `key`: its Spotify tokens are opened with the key
    /// ring and sealed under `key`, and `key` is wrapped for the refresh token just presented (its hash
    /// and the wrap), if any. One transaction on the locked link row.
    pub async fn move_link_to_data_key(
        &self,
        link_id: &LinkId,
        key: &DataKey,
        presented: Option<(&TokenHash, &[u8])>,
        now: UnixTime,
    ) -> Result<LinkMove, StoreError> {
        let id = link_id.to_string();
        let mut tx = self.begin_write().await?;
        self.lock_link(&mut tx, link_id).await?;
        let row = sqlx::query(
            "select sealed_by, spotify_refresh_token, spotify_access_token from link
             where link_id = $1",
        )
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::Corrupt(
            "link vanished while moving to a data key",
        ))?;
        if Sealing::parse(&row.try_get::<String, _>("sealed_by")?)? == Sealing::DataKey {
            return Ok(LinkMove::AlreadyMoved);
        }
        let reseal = |field: SealedField, column: &str| -> Result<Option<Vec<u8>>, StoreError> {
            let sealed: Option<Vec<u8>> = row.try_get(column)?;
            sealed
                .map(|sealed| {
                    let plain = self.open_link_field(None, link_id, field, &sealed)?;
                    self.seal_link_field(Some(key), link_id, field, &plain)
                })
                .transpose()
        };
        let refresh = reseal(SealedField::SpotifyRefreshToken, "spotify_refresh_token")?;
        let access = reseal(SealedField::SpotifyAccessToken, "spotify_access_token")?;
        sqlx::query(
            "update link set sealed_by = 'data_key', spotify_refresh_token = $2,
                 spotify_access_token = $3, token_version = token_version + 1
             where link_id = $1",
        )
        .bind(&id)
        .bind(refresh)
        .bind(access)
        .execute(&mut *tx)
        .await?;
        if let Some((secret_hash, wrap)) = presented {
            sqlx::query("update broker_token set wrapped_data_key = $2 where token_hash = $1")
                .bind(secret_hash.as_str())
                .bind(wrap)
                .execute(&mut *tx)
                .await?;
        }
        // Broker tokens minted before the move hold no wrap of the new key: every replica forgets them.
        self.record_change(&mut tx, link_id, ChangeKind::BrokerTokensRevoked, now)
            .await?;
        tx.commit().await?;
        Ok(LinkMove::Moved)
    }

    /// How many links still wait for their first refresh grant to move from the key ring to a data key.
    pub async fn links_sealed_by_key_ring(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "select count(*) from link where sealed_by = 'key_ring' and spotify_refresh_token is not null",
        )
        .fetch_one(self.pool())
        .await?)
    }
}
