//! Links: one row per Spotify account, with its Spotify tokens sealed under the key ring.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::{AuditKind, insert_event};
use super::sealed::SealedField;
use super::{ChangeKind, Store, StoreError};
use crate::crypto::FieldAad;
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
    "link_id, spotify_user_id, display_name, status, scopes, authorized_at, updated_at";

fn aad(link_id: &LinkId, field: SealedField) -> FieldAad {
    field.of_link(link_id)
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
        authorized_at: UnixTime::from_secs(row.try_get("authorized_at")?),
        updated_at: UnixTime::from_secs(row.try_get("updated_at")?),
    })
}

impl Store {
    /// Stores a new link, or replaces the tokens of the existing link of the same Spotify account
    /// (keeping its id) in one statement, so a reader never sees half of an update.
    #[tracing::instrument(skip_all, fields(spotify_user_id = %link.spotify_user_id))]
    pub async fn upsert_link(
        &self,
        link: &NewLink,
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
            let refresh = self.keys().seal(
                link.tokens.refresh_token.expose_secret(),
                &aad(&link_id, SealedField::SpotifyRefreshToken),
            )?;
            let access = self.keys().seal(
                link.tokens.access_token.expose_secret(),
                &aad(&link_id, SealedField::SpotifyAccessToken),
            )?;
            let mut tx = self.begin_write().await?;
            let written = if fresh {
                sqlx::query(
                    "insert into link (link_id, spotify_user_id, display_name, status, scopes,
                         spotify_refresh_token, spotify_access_token, spotify_access_expires_at,
                         authorized_at, token_version, created_at, updated_at)
                     values ($1, $2, $3, 'active', $4, $5, $6, $7, $8, 0, $8, $8)
                     on conflict (spotify_user_id) do nothing",
                )
            } else {
                sqlx::query(
                    "update link set display_name = $3, status = 'active', scopes = $4,
                         spotify_refresh_token = $5, spotify_access_token = $6,
                         spotify_access_expires_at = $7, authorized_at = $8,
                         token_version = token_version + 1, refresh_lease_owner = null,
                         refresh_lease_until = null, updated_at = $8
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

    /// A link with its Spotify tokens opened.
    #[tracing::instrument(skip_all, fields(link_id = %link_id))]
    pub async fn link(&self, link_id: &LinkId) -> Result<Option<Link>, StoreError> {
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
            (Some(refresh), Some(access)) => Some(SpotifyTokens {
                refresh_token: self
                    .keys()
                    .open(&refresh, &aad(link_id, SealedField::SpotifyRefreshToken))?,
                access_token: self
                    .keys()
                    .open(&access, &aad(link_id, SealedField::SpotifyAccessToken))?,
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
            "update broker_token set revoked_at = $2 where link_id = $1 and revoked_at is null",
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

    /// Re-seals every stored Spotify token that is not under the active key. Rows changed concurrently
    /// are skipped (whatever changed them sealed under the active key). Returns how many rows changed.
    pub async fn rewrap_tokens(&self) -> Result<u64, StoreError> {
        let active = self.keys().active_key_id().as_str().to_owned();
        let mut rewrapped = 0;
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "select link_id, token_version, spotify_refresh_token, spotify_access_token from link
                 where link_id > $1 and spotify_refresh_token is not null order by link_id limit 200",
            )
            .bind(&after)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else {
                return Ok(rewrapped);
            };
            after = last.try_get("link_id")?;
            for row in &rows {
                let link_id = LinkId::parse(&row.try_get::<String, _>("link_id")?)
                    .map_err(|_| StoreError::Corrupt("link_id"))?;
                let refresh: Vec<u8> = row.try_get("spotify_refresh_token")?;
                let access: Option<Vec<u8>> = row.try_get("spotify_access_token")?;
                let stale = |sealed: &[u8]| {
                    crate::crypto::KeyRing::key_id_of(sealed).map_or(true, |id| id != active)
                };
                if !stale(&refresh) && !access.as_deref().is_some_and(stale) {
                    continue;
                }
                let reseal = |sealed: &[u8], field| -> Result<Vec<u8>, StoreError> {
                    let aad = aad(&link_id, field);
                    let plain = self.keys().open(sealed, &aad)?;
                    Ok(self.keys().seal(plain.expose_secret(), &aad)?)
                };
                let refresh = reseal(&refresh, SealedField::SpotifyRefreshToken)?;
                let access = access
                    .map(|a| reseal(&a, SealedField::SpotifyAccessToken))
                    .transpose()?;
                rewrapped += sqlx::query(
                    "update link set spotify_refresh_token = $3, spotify_access_token = $4
                     where link_id = $1 and token_version = $2",
                )
                .bind(link_id.to_string())
                .bind(row.try_get::<i64, _>("token_version")?)
                .bind(refresh)
                .bind(access)
                .execute(self.pool())
                .await?
                .rows_affected();
            }
        }
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
