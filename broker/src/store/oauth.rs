//! Alexa's side of linking in the store: pending authorizations, one-time codes and broker tokens,
//! all keyed by SHA-256 hashes of the secrets.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
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

/// A pair of broker tokens to store (hashes only).
#[derive(Debug)]
pub struct IssuedTokens {
    pub link_id: LinkId,
    pub grant_id: GrantId,
    pub access_hash: TokenHash,
    pub access_expires_at: UnixTime,
    pub refresh_hash: TokenHash,
}

/// A live refresh token.
#[derive(Debug)]
pub struct RefreshTokenRecord {
    pub link_id: LinkId,
    pub grant_id: GrantId,
    /// Set once the token has been rotated out: the end of its grace period.
    pub expires_at: Option<UnixTime>,
}

fn verifier_aad(state_hash: &TokenHash) -> FieldAad {
    FieldAad::new(
        "pending_authorization",
        state_hash.as_str(),
        "spotify_code_verifier",
    )
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
                 code_challenge, code_challenge_method, spotify_code_verifier, expires_at, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(pending.state_hash.as_str())
        .bind(pending.client_id.as_str())
        .bind(pending.redirect_uri.as_str())
        .bind(&pending.alexa_state)
        .bind(pending.scope.as_deref())
        .bind(pending.code_challenge.as_ref().map(CodeChallenge::as_str))
        .bind(pending.code_challenge.as_ref().map(|_| CodeChallenge::METHOD))
        .bind(verifier)
        .bind(pending.expires_at.as_secs())
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes and returns a pending authorization that has not expired; each state works once.
    pub async fn take_pending_authorization(
        &self,
        state_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        let row = sqlx::query(
            "delete from pending_authorization where state_hash = $1
             returning client_id, redirect_uri, alexa_state, scope, code_challenge,
                 code_challenge_method, spotify_code_verifier, expires_at",
        )
        .bind(state_hash.as_str())
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
                 code_challenge, code_challenge_method, expires_at, created_at)
             values ($1, $2, $1, $3, $4, $5, $6, $7, $8)",
        )
        .bind(code.code_hash.as_str())
        .bind(code.link_id.to_string())
        .bind(code.client_id.as_str())
        .bind(code.redirect_uri.as_str())
        .bind(code.code_challenge.as_ref().map(CodeChallenge::as_str))
        .bind(code.code_challenge.as_ref().map(|_| CodeChallenge::METHOD))
        .bind(code.expires_at.as_secs())
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Spends a code atomically. A second presentation revokes every token issued from the code.
    /// Expiry and client checks are the caller's; an expired code is still spent here.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
    ) -> Result<CodeRedemption, StoreError> {
        let row = sqlx::query(
            "update authorization_code set used_at = $2 where code_hash = $1 and used_at is null
             returning link_id, grant_id, client_id, redirect_uri, code_challenge,
                 code_challenge_method, expires_at",
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
        match row {
            Some(row) => {
                self.revoke_grant(
                    &parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
                    now,
                )
                .await?;
                Ok(CodeRedemption::Replayed {
                    link_id: parse_link_id(&row.try_get::<String, _>("link_id")?)?,
                })
            }
            None => Ok(CodeRedemption::Unknown),
        }
    }

    /// Revokes every broker token issued from one authorization code, and marks the link changed so
    /// every replica drops the tokens it holds in memory.
    pub async fn revoke_grant(&self, grant_id: &GrantId, now: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let revoked = sqlx::query(
            "update broker_token set revoked_at = $2 where grant_id = $1 and revoked_at is null",
        )
        .bind(grant_id.as_str())
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "update link set updated_at = $2
             where link_id in (select link_id from broker_token where grant_id = $1)",
        )
        .bind(grant_id.as_str())
        .bind(now.as_secs())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Stores a new access/refresh pair; when `rotated_from` is given, that refresh token keeps working
    /// only until `grace_until`. Both happen in one transaction.
    pub async fn issue_tokens(
        &self,
        tokens: &IssuedTokens,
        rotated_from: Option<(&TokenHash, UnixTime)>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let insert =
            "insert into broker_token (token_hash, link_id, grant_id, kind, expires_at, created_at)
                      values ($1, $2, $3, $4, $5, $6)";
        for (hash, kind, expires) in [
            (
                &tokens.access_hash,
                "access",
                Some(tokens.access_expires_at.as_secs()),
            ),
            (&tokens.refresh_hash, "refresh", None),
        ] {
            sqlx::query(insert)
                .bind(hash.as_str())
                .bind(tokens.link_id.to_string())
                .bind(tokens.grant_id.as_str())
                .bind(kind)
                .bind(expires)
                .bind(now.as_secs())
                .execute(&mut *tx)
                .await?;
        }
        if let Some((old, grace_until)) = rotated_from {
            sqlx::query(
                "update broker_token set expires_at = $2
                 where token_hash = $1 and (expires_at is null or expires_at > $2)",
            )
            .bind(old.as_str())
            .bind(grace_until.as_secs())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A refresh token that is neither revoked nor past its grace period, on a link that is not revoked.
    pub async fn find_refresh_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query(
            "select t.link_id, t.grant_id, t.expires_at from broker_token t
             join link l on l.link_id = t.link_id
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
        }))
    }

    /// The link behind a live access token, and when that token expires.
    pub async fn find_access_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<(LinkId, UnixTime)>, StoreError> {
        let row = sqlx::query(
            "select link_id, expires_at from broker_token
             where token_hash = $1 and kind = 'access' and revoked_at is null and expires_at > $2",
        )
        .bind(hash.as_str())
        .bind(now.as_secs())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            parse_link_id(&row.try_get::<String, _>("link_id")?)?,
            UnixTime::from_secs(row.try_get("expires_at")?),
        )))
    }

    /// Revokes one broker token (RFC 7009); a refresh token takes its whole grant with it (§2.1).
    /// Returns the link the token belonged to, if any.
    pub async fn revoke_token(
        &self,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<LinkId>, StoreError> {
        let row = sqlx::query(
            "update broker_token set revoked_at = $2 where token_hash = $1 and revoked_at is null
             returning link_id, grant_id, kind",
        )
        .bind(hash.as_str())
        .bind(now.as_secs())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let link_id = parse_link_id(&row.try_get::<String, _>("link_id")?)?;
        if row.try_get::<String, _>("kind")? == "refresh" {
            self.revoke_grant(
                &parse_grant_id(&row.try_get::<String, _>("grant_id")?)?,
                now,
            )
            .await?;
        } else {
            sqlx::query("update link set updated_at = $2 where link_id = $1")
                .bind(link_id.to_string())
                .bind(now.as_secs())
                .execute(self.pool())
                .await?;
        }
        Ok(Some(link_id))
    }

    /// Deletes expired pending authorizations, codes a day past expiry (kept that long so a replay is
    /// still recognised), and tokens past their expiry. Returns how many rows went.
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
