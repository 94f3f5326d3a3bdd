//! Alexa's side of linking in the store: pending authorizations, one-time codes and broker tokens,
//! all keyed by SHA-256 hashes of the secrets.

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::{AuditKind, insert_event};
use super::sealed::SealedField;
use super::{Actor, Backend, ChangeKind, LinkStatus, Sealing, Store, StoreError};
use crate::crypto::FieldAad;
use crate::domain::{
    ClientId, CodeChallenge, CodeVerifier, GrantId, LinkId, RedirectUri, TokenHash, UnixTime,
};

/// Alexa's authorization request, remembered while the user is at Spotify.
#[derive(Debug)]
pub struct PendingAuthorization {
    pub state_hash: TokenHash,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub alexa_state: String,
    pub scope: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    /// The broker's PKCE verifier toward Spotify (sealed at rest).
    pub spotify_code_verifier: CodeVerifier,
    /// The hash of the cookie that binds the authorization to the browser that started it.
    pub browser_hash: TokenHash,
    pub expires_at: UnixTime,
}

/// A code about to be handed to Alexa.
#[derive(Debug)]
pub struct NewAuthorizationCode {
    pub code_hash: TokenHash,
    pub link_id: LinkId,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub code_challenge: Option<CodeChallenge>,
    pub expires_at: UnixTime,
    /// The link's data key wrapped for this code (see `crypto::DataKey`).
    pub wrapped_data_key: Vec<u8>,
}

/// A code that was just consumed.
#[derive(Debug)]
pub struct RedeemedCode {
    pub link_id: LinkId,
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub code_challenge: Option<CodeChallenge>,
    pub expires_at: UnixTime,
    /// The link's data key wrapped for the code; `None` for a code issued before per-link keys.
    pub wrapped_data_key: Option<Vec<u8>>,
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(RedeemedCode),
    /// The code was used before; every token issued from it has been revoked.
    Replayed { link_id: LinkId },
    /// No such code.
    Unknown,
}

/// A fresh access/refresh pair to store: hashes, and the link's data key wrapped for each token.
#[derive(Debug)]
pub struct NewTokenPair {
    pub access_hash: TokenHash,
    pub refresh_hash: TokenHash,
    pub access_wrap: Vec<u8>,
    pub refresh_wrap: Vec<u8>,
}

/// How long what the token endpoint issues lives.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access_ttl_s: i64,
    /// How long a rotated-out refresh token keeps working.
    pub refresh_grace_s: i64,
}

/// When the tokens minted from one refresh token end, and when that token itself ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiries {
    pub access_expires_at: UnixTime,
    /// `None`: the new refresh token is its family's current one and lives until it is rotated out.
    pub refresh_expires_at: Option<UnixTime>,
    /// The end of the presented refresh token's grace, now that it is rotated out.
    pub parent_grace_until: UnixTime,
}

impl TokenLifetimes {
    /// A family never outlives the end its parent token already has (RFC 9700 §4.14.2): tokens minted
    /// from a rotated-out refresh token end when its grace ends, so an old token cannot be laundered
    /// into one that lives forever.
    pub fn expiries(&self, parent_expires_at: Option<UnixTime>, now: UnixTime) -> Expiries {
        let access = now.plus_secs(self.access_ttl_s);
        let grace = now.plus_secs(self.refresh_grace_s);
        match parent_expires_at {
            None => Expiries {
                access_expires_at: access,
                refresh_expires_at: None,
                parent_grace_until: grace,
            },
            Some(end) => Expiries {
                access_expires_at: access.min(end),
                refresh_expires_at: Some(end),
                parent_grace_until: grace.min(end),
            },
        }
    }
}

/// What a new pair is issued from; checked again inside the transaction that stores the pair.
#[derive(Debug, Clone, Copy)]
pub enum IssueFrom<'a> {
    /// A code just redeemed: its link must be live and its grant not revoked since (a replay revokes it).
    Code {
        link_id: LinkId,
        grant_id: &'a GrantId,
    },
    /// A presented refresh token, which is rotated out by the issue.
    RefreshToken(&'a TokenHash),
    /// A presented refresh token found live a moment ago ([`Store::find_refresh_token`]), with the end it
    /// had then. On Postgres the pair is stored in one statement if nothing about the token changed
    /// since; otherwise as for [`IssueFrom::RefreshToken`].
    LiveRefreshToken {
        hash: &'a TokenHash,
        expires_at: Option<UnixTime>,
    },
}

impl<'a> IssueFrom<'a> {
    /// The refresh token presented, if the pair is issued from one.
    pub fn refresh_token(self) -> Option<&'a TokenHash> {
        match self {
            Self::Code { .. } => None,
            Self::RefreshToken(hash) | Self::LiveRefreshToken { hash, .. } => Some(hash),
        }
    }
}

/// A pair that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub link_id: LinkId,
    pub grant_id: GrantId,
    pub expiries: Expiries,
}

/// The outcome of asking for a new pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuance {
    Issued(IssuedTokens),
    /// The refresh token was rotated out past its grace, or revoked: its whole family (the grant) is
    /// now revoked, and nothing was stored.
    FamilyRevoked {
        link_id: LinkId,
    },
    /// Unknown refresh token, revoked link, or a grant revoked meanwhile: nothing was stored.
    Refused,
}

/// A live refresh token.
#[derive(Debug)]
pub struct RefreshTokenRecord {
    pub link_id: LinkId,
    pub grant_id: GrantId,
    /// The end of the token: its grace once it was rotated out, or its family's end.
    pub expires_at: Option<UnixTime>,
    /// The link's data key wrapped for this token; `None` when the link is still sealed by the key ring
    /// (or the wrap was destroyed).
    pub wrapped_data_key: Option<Vec<u8>>,
    pub sealing: Sealing,
}

/// A live access token.
#[derive(Debug)]
pub struct AccessTokenRecord {
    pub link_id: LinkId,
    pub expires_at: UnixTime,
    /// The link's data key wrapped for this token (see [`RefreshTokenRecord::wrapped_data_key`]).
    pub wrapped_data_key: Option<Vec<u8>>,
    pub sealing: Sealing,
}

fn verifier_aad(state_hash: &TokenHash) -> FieldAad {
    SealedField::SpotifyCodeVerifier.of_pending(state_hash)
}

fn parse_link_id(raw: &str) -> Result<LinkId, StoreError> {
    LinkId::parse(raw).map_err(|_| StoreError::Corrupt("link_id"))
}

fn parse_grant_id(raw: &str) -> Result<GrantId, StoreError> {
    GrantId::parse(raw).map_err(|_| StoreError::Corrupt("grant_id"))
}

/// A redeemed code's row, as domain values.
fn redeemed_from_row(row: &AnyRow) -> Result<RedeemedCode, StoreError> {
    let corrupt = |what| move |_| StoreError::Corrupt(what);
    let challenge: Option<String> = row.try_get("code_challenge")?;
    let method: Option<String> = row.try_get("code_challenge_method")?;
    Ok(RedeemedCode {
        link_id: parse_link_id(&row.try_get::<String, _>("link_id")?)?,
        grant_id: parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
        client_id: ClientId::parse(&row.try_get::<String, _>("client_id")?)
            .map_err(corrupt("client_id"))?,
        redirect_uri: RedirectUri::parse(&row.try_get::<String, _>("redirect_uri")?)
            .map_err(corrupt("redirect_uri"))?,
        code_challenge: challenge
            .map(|c| CodeChallenge::parse(&c, method.as_deref()))
            .transpose()
            .map_err(corrupt("code_challenge"))?,
        expires_at: UnixTime::from_secs(row.try_get("expires_at")?),
        wrapped_data_key: row.try_get("wrapped_data_key")?,
    })
}

impl Store {
    pub async fn insert_pending_authorization(
        &self,
        pending: &PendingAuthorization,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let verifier = self.keys().seal(
            pending.spotify_code_verifier.expose(),
            &verifier_aad(&pending.state_hash),
        )?;
        sqlx::query(
            "insert into pending_authorization (state_hash, client_id, redirect_uri, alexa_state, scope,
                 code_challenge, code_challenge_method, spotify_code_verifier, browser_hash, expires_at,
                 created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(pending.state_hash.as_str())
        .bind(pending.client_id.as_str())
        .bind(pending.redirect_uri.as_str())
        .bind(&pending.alexa_state)
        .bind(pending.scope.as_deref())
        .bind(pending.code_challenge.as_ref().map(CodeChallenge::as_str))
        .bind(pending.code_challenge.as_ref().map(|_| CodeChallenge::METHOD))
        .bind(verifier)
        .bind(pending.browser_hash.as_str())
        .bind(pending.expires_at.as_secs())
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes and returns a pending authorization that has not expired, when presented from the browser
    /// that started it; each state works once. From another browser the row stays for its own.
    pub async fn take_pending_authorization(
        &self,
        state_hash: &TokenHash,
        browser_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let row = sqlx::query(
            "delete from pending_authorization where state_hash = $1 and browser_hash = $2
             returning client_id, redirect_uri, alexa_state, scope, code_challenge,
                 code_challenge_method, spotify_code_verifier, expires_at",
        )
        .bind(state_hash.as_str())
        .bind(browser_hash.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at = UnixTime::from_secs(row.try_get("expires_at")?);
        if expires_at <= now {
            return Ok(None);
        }
        let sealed: Vec<u8> = row.try_get("spotify_code_verifier")?;
        let verifier: SecretString = self.keys().open(&sealed, &verifier_aad(state_hash))?;
        let challenge: Option<String> = row.try_get("code_challenge")?;
        let method: Option<String> = row.try_get("code_challenge_method")?;
        let corrupt = |what| move |_| StoreError::Corrupt(what);
        Ok(Some(PendingAuthorization {
            state_hash: state_hash.clone(),
            client_id: ClientId::parse(&row.try_get::<String, _>("client_id")?)
                .map_err(corrupt("client_id"))?,
            redirect_uri: RedirectUri::parse(&row.try_get::<String, _>("redirect_uri")?)
                .map_err(corrupt("redirect_uri"))?,
            alexa_state: row.try_get("alexa_state")?,
            scope: row.try_get("scope")?,
            code_challenge: challenge
                .map(|c| CodeChallenge::parse(&c, method.as_deref()))
                .transpose()
                .map_err(corrupt("code_challenge"))?,
            spotify_code_verifier: CodeVerifier::parse(verifier.expose_secret())
                .map_err(corrupt("spotify_code_verifier"))?,
            browser_hash: browser_hash.clone(),
            expires_at,
        }))
    }

    pub async fn insert_authorization_code(
        &self,
        code: &NewAuthorizationCode,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into authorization_code (code_hash, link_id, grant_id, client_id, redirect_uri,
                 code_challenge, code_challenge_method, expires_at, created_at, wrapped_data_key)
             values ($1, $2, $1, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(code.code_hash.as_str())
        .bind(code.link_id.to_string())
        .bind(code.client_id.as_str())
        .bind(code.redirect_uri.as_str())
        .bind(code.code_challenge.as_ref().map(CodeChallenge::as_str))
        .bind(code.code_challenge.as_ref().map(|_| CodeChallenge::METHOD))
        .bind(code.expires_at.as_secs())
        .bind(now.as_secs())
        .bind(&code.wrapped_data_key)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends a code atomically. A second presentation revokes every token issued from the code, and
    /// the grant itself, so that an exchange still in flight cannot store tokens afterwards.
    /// Expiry and client checks are the caller's; an expired code is still spent here.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<CodeRedemption, StoreError> {
        let row = sqlx::query(
            "update authorization_code set used_at = $2 where code_hash = $1 and used_at is null
             returning link_id, grant_id, client_id, redirect_uri, code_challenge,
                 code_challenge_method, expires_at, wrapped_data_key",
        )
        .bind(code_hash.as_str())
        .bind(now.as_secs())
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = row {
            return Ok(CodeRedemption::Redeemed(redeemed_from_row(&row)?));
        }
        let row =
            sqlx::query("select grant_id, link_id from authorization_code where code_hash = $1")
                .bind(code_hash.as_str())
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else {
            return Ok(CodeRedemption::Unknown);
        };
        let link_id = parse_link_id(&row.try_get::<String, _>("link_id")?)?;
        let grant_id = parse_grant_id(&row.try_get::<String, _>("grant_id")?)?;
        let mut tx = self.begin_write().await?;
        self.mark_link_changed(&mut tx, &link_id, now).await?;
        revoke_grant(&mut tx, &grant_id, now).await?;
        insert_event(
            &mut tx,
            Some(&link_id),
            AuditKind::CodeReplayed,
            Actor::Broker,
            Some("an authorization code was presented again; its grant is revoked"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(CodeRedemption::Replayed { link_id })
    }

    /// Stores a new access/refresh pair, in one transaction that first locks the link and then checks
    /// that the link is not revoked and that what the pair is issued from is still good: the code's
    /// grant not revoked, or the refresh token neither revoked nor past its end. A refresh token
    /// presented after its end, or after being revoked, revokes its whole family instead. The
    /// presented refresh token is rotated out: it keeps working only until its grace ends.
    #[tracing::instrument(skip_all)]
    pub async fn issue_tokens(
        &self,
        pair: &NewTokenPair,
        from: IssueFrom<'_>,
        lifetimes: TokenLifetimes,
        now: UnixTime,
    ) -> Result<Issuance, StoreError> {
        if let IssueFrom::LiveRefreshToken { hash, expires_at } = from
            && let Some(issued) = self
                .rotate_unchanged_refresh_token(pair, hash, expires_at, lifetimes, now)
                .await?
        {
            return Ok(Issuance::Issued(issued));
        }
        let mut tx = self.begin_write().await?;
        let (link_id, grant_id, status) = match from {
            IssueFrom::Code { link_id, grant_id } => {
                let status = self.lock_link(&mut tx, &link_id).await?;
                (link_id, grant_id.clone(), status)
            }
            IssueFrom::RefreshToken(hash) | IssueFrom::LiveRefreshToken { hash, .. } => {
                // The token's link and grant never change; its link row is locked in the same statement.
                let sql = match self.backend {
                    Backend::Postgres => {
                        "select t.link_id, t.grant_id, l.status from broker_token t
                         join link l on l.link_id = t.link_id
                         where t.token_hash = $1 and t.kind = 'refresh' for update of l"
                    }
                    Backend::Sqlite => {
                        "select t.link_id, t.grant_id, l.status from broker_token t
                         join link l on l.link_id = t.link_id
                         where t.token_hash = $1 and t.kind = 'refresh'"
                    }
                };
                let row = sqlx::query(sql)
                    .bind(hash.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(Issuance::Refused);
                };
                (
                    parse_link_id(&row.try_get::<String, _>("link_id")?)?,
                    parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
                    Some(LinkStatus::parse(&row.try_get::<String, _>("status")?)?),
                )
            }
        };
        if status.is_none_or(|status| status == LinkStatus::Revoked) {
            return Ok(Issuance::Refused);
        }
        let parent_expires_at = match from {
            IssueFrom::Code { .. } => {
                let live: Option<i64> = sqlx::query_scalar(
                    "select 1 from authorization_code
                     where grant_id = $1 and used_at is not null and revoked_at is null",
                )
                .bind(grant_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if live.is_none() {
                    return Ok(Issuance::Refused);
                }
                None
            }
            IssueFrom::RefreshToken(hash) | IssueFrom::LiveRefreshToken { hash, .. } => {
                let row = sqlx::query(
                    "select expires_at, revoked_at from broker_token where token_hash = $1",
                )
                .bind(hash.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(Issuance::Refused);
                };
                let expires_at = row
                    .try_get::<Option<i64>, _>("expires_at")?
                    .map(UnixTime::from_secs);
                let revoked = row.try_get::<Option<i64>, _>("revoked_at")?.is_some();
                if revoked || expires_at.is_some_and(|end| end <= now) {
                    self.mark_link_changed(&mut tx, &link_id, now).await?;
                    revoke_grant(&mut tx, &grant_id, now).await?;
                    let reason = if revoked {
                        "a revoked refresh token was presented"
                    } else {
                        "a refresh token was presented after its grace"
                    };
                    insert_event(
                        &mut tx,
                        Some(&link_id),
                        AuditKind::RefreshTokenFamilyRevoked,
                        Actor::Broker,
                        Some(reason),
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(Issuance::FamilyRevoked { link_id });
                }
                expires_at
            }
        };
        let expiries = lifetimes.expiries(parent_expires_at, now);
        // Both tokens in one statement: one round trip fewer on every grant.
        sqlx::query(
            "insert into broker_token (token_hash, link_id, grant_id, kind, expires_at, created_at,
                 wrapped_data_key)
             values ($1, $2, $3, 'access', $4, $5, $6), ($7, $2, $3, 'refresh', $8, $5, $9)",
        )
        .bind(pair.access_hash.as_str())
        .bind(link_id.to_string())
        .bind(grant_id.as_str())
        .bind(expiries.access_expires_at.as_secs())
        .bind(now.as_secs())
        .bind(&pair.access_wrap)
        .bind(pair.refresh_hash.as_str())
        .bind(expiries.refresh_expires_at.map(UnixTime::as_secs))
        .bind(&pair.refresh_wrap)
        .execute(&mut *tx)
        .await?;
        if let Some(hash) = from.refresh_token() {
            // Rotating the same token again never extends its grace.
            sqlx::query(
                "update broker_token set expires_at = $2
                 where token_hash = $1 and (expires_at is null or expires_at > $2)",
            )
            .bind(hash.as_str())
            .bind(expiries.parent_grace_until.as_secs())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Issuance::Issued(IssuedTokens {
            link_id,
            grant_id,
            expiries,
        }))
    }

    /// The common refresh grant on Postgres in one statement (one round trip, one commit) instead of a
    /// transaction of five: it stores the pair and rotates the presented token out only if the token is
    /// still what [`Store::find_refresh_token`] saw (live, with the same end, holding a wrap of its link's
    /// data key) and its link is not revoked,
    /// with the link row locked first, as every writer of broker tokens locks it, then the token row.
    /// Locking the token row too means a concurrent rotation or revocation that commits first is seen
    /// (Postgres rechecks a locked row's newest version), so such a race falls back to the transaction:
    /// `None`, nothing stored. Always `None` on SQLite, where the transaction is as cheap (no network).
    /// [`Store::issue_tokens`] tries it first for [`IssueFrom::LiveRefreshToken`]; the token endpoint
    /// calls it alone for a refresh token this replica issued (and remembers).
    pub async fn rotate_unchanged_refresh_token(
        &self,
        pair: &NewTokenPair,
        hash: &TokenHash,
        seen_expires_at: Option<UnixTime>,
        lifetimes: TokenLifetimes,
        now: UnixTime,
    ) -> Result<Option<IssuedTokens>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let expiries = lifetimes.expiries(seen_expires_at, now);
        let row = sqlx::query(
            "with locked_link as (
                 select link_id from link
                 where link_id = (select link_id from broker_token where token_hash = $1 and kind = 'refresh')
                   and status <> 'revoked'
                 for update
             ), presented as (
                 select t.link_id, t.grant_id from broker_token t
                 where t.token_hash = $1 and t.kind = 'refresh' and t.revoked_at is null
                   and t.expires_at is not distinct from $2 and (t.expires_at is null or t.expires_at > $3)
                   and t.wrapped_data_key is not null
                   and t.link_id in (select link_id from locked_link)
                 for update
             ), issued as (
                 insert into broker_token (token_hash, link_id, grant_id, kind, expires_at, created_at,
                     wrapped_data_key)
                 select $4, link_id, grant_id, 'access', $5, $3, $6 from presented
                 union all
                 select $7, link_id, grant_id, 'refresh', $8, $3, $9 from presented
             ), rotated as (
                 update broker_token set expires_at = $10
                 where token_hash = $1 and (expires_at is null or expires_at > $10)
                   and exists (select 1 from presented)
             )
             select link_id, grant_id from presented",
        )
        .bind(hash.as_str())
        .bind(seen_expires_at.map(UnixTime::as_secs))
        .bind(now.as_secs())
        .bind(pair.access_hash.as_str())
        .bind(expiries.access_expires_at.as_secs())
        .bind(&pair.access_wrap)
        .bind(pair.refresh_hash.as_str())
        .bind(expiries.refresh_expires_at.map(UnixTime::as_secs))
        .bind(&pair.refresh_wrap)
        .bind(expiries.parent_grace_until.as_secs())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(IssuedTokens {
            link_id: parse_link_id(&row.try_get::<String, _>("link_id")?)?,
            grant_id: parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
            expiries,
        }))
    }

    /// A refresh token that is neither revoked nor past its end, on a link that is not revoked.
    pub async fn find_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query(
            "select t.link_id, t.grant_id, t.expires_at, t.wrapped_data_key, l.sealed_by
             from broker_token t join link l on l.link_id = t.link_id
             where t.token_hash = $1 and t.kind = 'refresh' and t.revoked_at is null
               and (t.expires_at is null or t.expires_at > $2) and l.status <> 'revoked'",
        )
        .bind(hash.as_str())
        .bind(now.as_secs())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshTokenRecord {
            link_id: parse_link_id(&row.try_get::<String, _>("link_id")?)?,
            grant_id: parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
            expires_at: row
                .try_get::<Option<i64>, _>("expires_at")?
                .map(UnixTime::from_secs),
            wrapped_data_key: row.try_get("wrapped_data_key")?,
            sealing: Sealing::parse(&row.try_get::<String, _>("sealed_by")?)?,
        }))
    }

    /// A live access token: its link, its end and the link's data key wrapped for it.
    pub async fn find_access_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(
            "select t.link_id, t.expires_at, t.wrapped_data_key, l.sealed_by
             from broker_token t join link l on l.link_id = t.link_id
             where t.token_hash = $1 and t.kind = 'access' and t.revoked_at is null
               and t.expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(now.as_secs())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AccessTokenRecord {
            link_id: parse_link_id(&row.try_get::<String, _>("link_id")?)?,
            expires_at: UnixTime::from_secs(row.try_get("expires_at")?),
            wrapped_data_key: row.try_get("wrapped_data_key")?,
            sealing: Sealing::parse(&row.try_get::<String, _>("sealed_by")?)?,
        }))
    }

    /// Revokes one broker token (RFC 7009); a refresh token takes its whole grant with it (§2.1). One
    /// transaction: the link's change mark, the token and its grant, or none of them.
    /// Returns the link the token belonged to, if it was live until now.
    pub async fn revoke_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<LinkId>, StoreError> {
        let row = sqlx::query(
            "select link_id, grant_id, kind from broker_token
             where token_hash = $1 and revoked_at is null",
        )
        .bind(hash.as_str())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let link_id = parse_link_id(&row.try_get::<String, _>("link_id")?)?;
        let mut tx = self.begin_write().await?;
        self.mark_link_changed(&mut tx, &link_id, now).await?;
        let revoked = sqlx::query(
            "update broker_token set revoked_at = $2, wrapped_data_key = null
             where token_hash = $1 and revoked_at is null",
        )
        .bind(hash.as_str())
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 0 {
            // Revoked meanwhile by someone else, who announced it.
            return Ok(None);
        }
        if row.try_get::<String, _>("kind")? == "refresh" {
            let grant_id = parse_grant_id(&row.try_get::<String, _>("grant_id")?)?;
            revoke_grant(&mut tx, &grant_id, now).await?;
            insert_event(
                &mut tx,
                Some(&link_id),
                AuditKind::Revoked,
                Actor::OAuthClient,
                Some("the client revoked its grant (RFC 7009); the link stays"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(link_id))
    }
    /// Deletes expired pending authorizations, and codes and broker tokens a day past their expiry or
    /// revocation (kept that long so a replay is still recognised, and revokes its family; after that
    /// it is merely unknown). Returns how many rows went.
    pub async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut removed = 0;
        for (sql, cutoff) in [
            (
                "delete from pending_authorization where expires_at <= $1",
                now,
            ),
            (
                "delete from authorization_code where expires_at <= $1",
                now.plus_secs(-86_400),
            ),
            (
                "delete from broker_token where expires_at <= $1",
                now.plus_secs(-86_400),
            ),
            (
                "delete from broker_token where revoked_at <= $1",
                now.plus_secs(-86_400),
            ),
        ] {
            removed += sqlx::query(sql)
                .bind(cutoff.as_secs())
                .execute(self.pool())
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

/// Revokes a grant, the code that started it and every broker token issued from it (a token family).
/// The caller holds the link's lock (see [`Store::mark_link_changed`]).
async fn revoke_grant(
    tx: &mut Transaction<'_, Any>,
    grant_id: &GrantId,
    now: UnixTime,
) -> Result<(), StoreError> {
    for sql in [
        "update authorization_code set revoked_at = $2, wrapped_data_key = null
         where grant_id = $1 and revoked_at is null",
        "update broker_token set revoked_at = $2, wrapped_data_key = null
         where grant_id = $1 and revoked_at is null",
    ] {
        sqlx::query(sql)
            .bind(grant_id.as_str())
            .bind(now.as_secs())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Records that some of a link's broker tokens are revoked, so that every replica drops the tokens it
    /// holds for it in memory. On Postgres this also takes the link's row lock, which every writer of
    /// broker tokens takes first.
    async fn mark_link_changed(
        &self,
        tx: &mut Transaction<'_, Any>,
        link_id: &LinkId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("update link set updated_at = $2 where link_id = $1")
            .bind(link_id.to_string())
            .bind(now.as_secs())
            .execute(&mut **tx)
            .await?;
        self.record_change(tx, link_id, ChangeKind::BrokerTokensRevoked, now)
            .await
    }
}
