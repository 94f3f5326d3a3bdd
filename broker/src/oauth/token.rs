//! `POST /oauth/token`: the authorization-code and refresh-token grants. Never calls Spotify.

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::OAuthError;
use super::client_auth::{authenticate, authenticate_limited};
use super::error::no_store;
use super::params::{Params, read_form};
use crate::config::AlexaSettings;
use crate::crypto::{DataKey, WrapAad};
use crate::domain::{
    AuthorizationCode, BrokerAccessToken, BrokerRefreshToken, CodeVerifier, LinkId, RedirectUri,
    TokenHash, UnixTime,
};
use crate::linked::{IssuedRefreshToken, LookupMark};
use crate::state::SharedState;
use crate::store::{
    CodeRedemption, Issuance, IssueFrom, IssuedTokens, LinkMove, NewTokenPair, Sealing, StoreError,
    TokenLifetimes,
};
use crate::telemetry::metrics;

/// RFC 6749 §5.1.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse<'a> {
    /// `bat_…`
    access_token: &'a str,
    /// `Bearer`
    token_type: &'static str,
    /// Seconds the access token lives (at least 360 unless its family ends sooner).
    expires_in: i64,
    /// `brt_…`
    refresh_token: &'a str,
}

fn store_failed(err: StoreError) -> OAuthError {
    tracing::error!(error = ?err, "token endpoint store call failed");
    OAuthError::temporarily_unavailable()
}

/// The authorization-code and refresh-token grants. Never calls Spotify.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "token",
    tag = "oauth",
    request_body(content = super::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "new broker tokens (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `unauthorized_client` or `unsupported_grant_type`", body = crate::openapi::OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate`", body = crate::openapi::OAuthErrorBody),
        (status = 413, description = "`invalid_request`: the body is larger than `server.max_body_bytes`", body = crate::openapi::OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed client authentications from this address, with `Retry-After`", body = crate::openapi::OAuthErrorBody, headers(("Retry-After" = u64))),
        (status = 503, description = "`temporarily_unavailable`: retry", body = crate::openapi::OAuthErrorBody),
    )
)]
pub async fn token(
    request: HttpRequest,
    payload: web::Payload,
    state: SharedState,
) -> Result<HttpResponse, OAuthError> {
    let mut grant_type = "unknown";
    let answer = grant(&request, payload, &state, &mut grant_type).await;
    let outcome = answer.as_ref().map_or_else(OAuthError::code, |_| "issued");
    metrics::token_grant(grant_type, outcome);
    answer
}

/// Authenticates the client (failures capped per address) and runs the grant, naming its type (from a
/// closed set) once read.
async fn grant(
    request: &HttpRequest,
    payload: web::Payload,
    state: &SharedState,
    grant_type: &mut &'static str,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(request, payload, state.max_body_bytes).await?;
    *grant_type = match params.get("grant_type") {
        Some("authorization_code") => "authorization_code",
        Some("refresh_token") => "refresh_token",
        Some(_) => "unsupported",
        None => "unknown",
    };
    authenticate_limited(request, &params, &state.alexa, &state.client_auth_limits)?;
    match parse_grant(&params)? {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
        } => authorization_code_grant(code, redirect_uri, verifier, state).await,
        TokenGrant::RefreshToken(presented) => refresh_token_grant(presented, state).await,
    }
}

/// A token request that passed client authentication and carries a well-formed grant: everything the
/// token endpoint checks before it looks anything up.
#[derive(Debug)]
pub enum TokenGrant {
    /// `grant_type=authorization_code`.
    AuthorizationCode {
        code: AuthorizationCode,
        /// `None` when it does not parse: then it cannot be the one the code was issued for.
        redirect_uri: Option<RedirectUri>,
        verifier: Option<CodeVerifier>,
    },
    /// `grant_type=refresh_token`.
    RefreshToken(BrokerRefreshToken),
}

/// Authenticates the client (the `Authorization` header as received, or the body's credentials) and
/// reads the grant from the token request's form parameters.
pub fn parse_token_request(
    authorization: Option<&HeaderValue>,
    params: &Params,
    alexa: &AlexaSettings,
) -> Result<TokenGrant, OAuthError> {
    authenticate(authorization, params, alexa)?;
    parse_grant(params)
}

/// Reads the grant from the token request's form parameters (the client already authenticated).
fn parse_grant(params: &Params) -> Result<TokenGrant, OAuthError> {
    match params.require("grant_type")? {
        "authorization_code" => {
            let code = params.require("code")?;
            let redirect_uri = RedirectUri::parse(params.require("redirect_uri")?).ok();
            let verifier = params
                .get("code_verifier")
                .map(CodeVerifier::parse)
                .transpose()
                .map_err(|e| OAuthError::invalid_request(e.0))?;
            let code = AuthorizationCode::parse(code)
                .map_err(|_| OAuthError::invalid_grant("the authorization code is invalid"))?;
            Ok(TokenGrant::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            })
        }
        "refresh_token" => BrokerRefreshToken::parse(params.require("refresh_token")?)
            .map(TokenGrant::RefreshToken)
            .map_err(|_| OAuthError::invalid_grant("the refresh token is invalid")),
        _ => Err(OAuthError::unsupported_grant_type()),
    }
}

#[tracing::instrument(skip_all)]
async fn authorization_code_grant(
    code: AuthorizationCode,
    redirect_uri: Option<RedirectUri>,
    verifier: Option<CodeVerifier>,
    state: &SharedState,
) -> Result<HttpResponse, OAuthError> {
    let now = UnixTime::now();
    let redeemed = match state
        .store
        .redeem_authorization_code(&code.hash(), now)
        .await
        .map_err(store_failed)?
    {
        CodeRedemption::Redeemed(redeemed) => redeemed,
        CodeRedemption::Replayed { link_id } => {
            state.lifecycle.broker_tokens_revoked(link_id);
            tracing::warn!(link_id = %link_id, "authorization code replayed; tokens issued from it are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        }
    };
    if redeemed.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code expired"));
    }
    if redeemed.client_id != state.alexa.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if redirect_uri.as_ref() != Some(&redeemed.redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&redeemed.code_challenge, &verifier) {
        (Some(challenge), Some(verifier)) => {
            if !challenge.is_satisfied_by(verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent for a code issued without pkce",
            ));
        }
        (None, None) => {}
    }
    let key = match &redeemed.wrapped_data_key {
        Some(wrapped) => DataKey::unwrap_with(
            wrapped,
            code.expose(),
            &WrapAad::new(&redeemed.link_id, &code.hash()),
        )
        .map_err(|_| OAuthError::invalid_grant("the authorization code is invalid"))?,
        // A code issued before per-link keys: its link moves to a new key now.
        None => move_to_data_key(state, &redeemed.link_id, None, now)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the authorization code is invalid"))?,
    };
    let from = IssueFrom::Code {
        link_id: redeemed.link_id,
        grant_id: &redeemed.grant_id,
    };
    issue(state, from, Some((redeemed.link_id, &key)), now).await
}

#[tracing::instrument(skip_all)]
async fn refresh_token_grant(
    presented: BrokerRefreshToken,
    state: &SharedState,
) -> Result<HttpResponse, OAuthError> {
    let now = UnixTime::now();
    let hash = presented.hash();
    // A refresh token this replica issued: its link and its wrap of the link's key are known, so the grant
    // can be one statement, which checks the token in the store as the lookup below would.
    if let Some(remembered) = state.linked.memory().take_refresh_token(&hash)
        && let Some(answer) = refresh_remembered(state, &presented, &hash, &remembered, now).await?
    {
        return Ok(answer);
    }
    let Some(record) = state
        .store
        .find_refresh_token(&hash, now)
        .await
        .map_err(store_failed)?
    else {
        // Unknown, or dead: the store refuses it (and revokes a dead token's family).
        return issue(state, IssueFrom::RefreshToken(&hash), None, now).await;
    };
    let unwrap = |wrapped: &[u8]| {
        DataKey::unwrap_with(
            wrapped,
            presented.expose(),
            &WrapAad::new(&record.link_id, &hash),
        )
        .map_err(|_| OAuthError::invalid_grant("the refresh token is invalid or revoked"))
    };
    let key = match (&record.wrapped_data_key, record.sealing) {
        (Some(wrapped), _) => unwrap(wrapped)?,
        (None, Sealing::KeyRing) => {
            match move_to_data_key(state, &record.link_id, Some((&presented, &hash)), now).await? {
                Some(key) => key,
                // Moved meanwhile by a concurrent grant, which wrapped the new key for this token too.
                None => {
                    let again = state
                        .store
                        .find_refresh_token(&hash, now)
                        .await
                        .map_err(store_failed)?
                        .and_then(|record| record.wrapped_data_key)
                        .ok_or_else(|| {
                            OAuthError::invalid_grant("the refresh token is invalid or revoked")
                        })?;
                    unwrap(&again)?
                }
            }
        }
        (None, Sealing::DataKey) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid or revoked",
            ));
        }
    };
    // Found live a moment ago: on Postgres the pair is stored in one statement if it still is.
    let live = IssueFrom::LiveRefreshToken {
        hash: &hash,
        expires_at: record.expires_at,
    };
    issue(state, live, Some((record.link_id, &key)), now).await
}

/// Moves a link still sealed by the key ring to a new data key, wrapped for the refresh token presented
/// (when there is one); `None` when another grant moved it first.
async fn move_to_data_key(
    state: &SharedState,
    link_id: &LinkId,
    presented: Option<(&BrokerRefreshToken, &TokenHash)>,
    now: UnixTime,
) -> Result<Option<DataKey>, OAuthError> {
    let key = DataKey::generate();
    let wrap = presented
        .map(|(token, hash)| {
            key.wrap_for(token.expose(), &WrapAad::new(link_id, hash))
                .map(|wrap| (hash, wrap))
        })
        .transpose()
        .map_err(|err| {
            tracing::error!(error = %err, "wrapping a data key failed");
            OAuthError::temporarily_unavailable()
        })?;
    let moved = state
        .store
        .move_link_to_data_key(
            link_id,
            &key,
            wrap.as_ref().map(|(hash, wrap)| (*hash, wrap.as_slice())),
            now,
        )
        .await
        .map_err(store_failed)?;
    Ok(match moved {
        LinkMove::Moved => {
            tracing::info!(link_id = %link_id, "link moved from the key ring to its own data key");
            state.lifecycle.broker_tokens_revoked(*link_id);
            Some(key)
        }
        LinkMove::AlreadyMoved => None,
    })
}

/// A fresh access/refresh pair, wrapped for the link's data key when there is one.
struct Minted {
    access: BrokerAccessToken,
    refresh: BrokerRefreshToken,
    pair: NewTokenPair,
}

/// `keyed` is the link and its data key, wrapped here for both new tokens; `None` only for a refresh token
/// that is not live, which the store refuses.
fn mint(keyed: Option<(LinkId, &DataKey)>) -> Result<Minted, OAuthError> {
    let access = BrokerAccessToken::generate();
    let refresh = BrokerRefreshToken::generate();
    let wrap = |secret: &str, hash: &TokenHash| -> Result<Vec<u8>, OAuthError> {
        match keyed {
            Some((link_id, key)) => {
                key.wrap_for(secret, &WrapAad::new(&link_id, hash))
                    .map_err(|err| {
                        tracing::error!(error = %err, "wrapping a data key failed");
                        OAuthError::temporarily_unavailable()
                    })
            }
            None => Ok(Vec::new()),
        }
    };
    let (access_hash, refresh_hash) = (access.hash(), refresh.hash());
    let pair = NewTokenPair {
        access_wrap: wrap(access.expose(), &access_hash)?,
        refresh_wrap: wrap(refresh.expose(), &refresh_hash)?,
        access_hash,
        refresh_hash,
    };
    Ok(Minted {
        access,
        refresh,
        pair,
    })
}

fn lifetimes(state: &SharedState) -> TokenLifetimes {
    TokenLifetimes {
        access_ttl_s: state.oauth.access_token_ttl_s,
        refresh_grace_s: state.oauth.refresh_token_grace_s,
    }
}

/// Mints and stores a fresh access/refresh pair and renders RFC 6749 §5.1. `expires_in` is the access
/// token's real remaining lifetime: less than the configured one when its family ends sooner.
async fn issue(
    state: &SharedState,
    from: IssueFrom<'_>,
    keyed: Option<(LinkId, &DataKey)>,
    now: UnixTime,
) -> Result<HttpResponse, OAuthError> {
    let minted = mint(keyed)?;
    // Before the write: a void of the link's tokens from here on voids the refresh token remembered.
    let mark = state.linked.memory().lookup_mark();
    let issued = match state
        .store
        .issue_tokens(&minted.pair, from, lifetimes(state), now)
        .await
        .map_err(store_failed)?
    {
        Issuance::Issued(issued) if keyed.is_some_and(|(link_id, _)| link_id == issued.link_id) => {
            issued
        }
        Issuance::Issued(issued) => {
            // Cannot happen (the store refuses what was not live a moment ago); the pair opens nothing.
            tracing::error!(link_id = %issued.link_id, "tokens issued without the link's key");
            return Err(OAuthError::temporarily_unavailable());
        }
        Issuance::Refused => {
            return Err(OAuthError::invalid_grant(match from {
                IssueFrom::Code { link_id, .. } => {
                    tracing::warn!(link_id = %link_id, "code exchange lost to a replay or a revocation");
                    "the authorization code was revoked"
                }
                IssueFrom::RefreshToken(_) | IssueFrom::LiveRefreshToken { .. } => {
                    "the refresh token is invalid or revoked"
                }
            }));
        }
        Issuance::FamilyRevoked { link_id } => {
            state.lifecycle.broker_tokens_revoked(link_id);
            tracing::warn!(link_id = %link_id, "refresh token presented after its end or revocation; its family is revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token expired or was revoked; its grant is revoked",
            ));
        }
    };
    Ok(issued_answer(
        state,
        &minted,
        keyed.is_some(),
        &issued,
        mark,
        now,
    ))
}

/// The refresh grant for a refresh token this replica issued: one statement (Postgres) that stores the new
/// pair only if the token is still live as it was issued, on a link still sealed by this key; `None` when
/// it is not, or on SQLite, and the grant takes the ordinary path.
async fn refresh_remembered(
    state: &SharedState,
    presented: &BrokerRefreshToken,
    hash: &TokenHash,
    remembered: &IssuedRefreshToken,
    now: UnixTime,
) -> Result<Option<HttpResponse>, OAuthError> {
    let aad = WrapAad::new(&remembered.link_id, hash);
    let Ok(key) = DataKey::unwrap_with(&remembered.wrapped_key, presented.expose(), &aad) else {
        return Ok(None);
    };
    let minted = mint(Some((remembered.link_id, &key)))?;
    let mark = state.linked.memory().lookup_mark();
    let rotated = state
        .store
        .rotate_unchanged_refresh_token(
            &minted.pair,
            hash,
            remembered.expires_at,
            lifetimes(state),
            now,
        )
        .await
        .map_err(store_failed)?;
    match rotated {
        Some(issued) if issued.link_id == remembered.link_id => Ok(Some(issued_answer(
            state, &minted, true, &issued, mark, now,
        ))),
        Some(issued) => {
            // Cannot happen (a token's link never changes); the pair opens nothing.
            tracing::error!(link_id = %issued.link_id, "tokens issued for another link than remembered");
            Err(OAuthError::temporarily_unavailable())
        }
        None => Ok(None),
    }
}

/// Remembers the new refresh token (when it holds a wrap of its link's data key) for its next grant, and
/// renders the answer.
fn issued_answer(
    state: &SharedState,
    minted: &Minted,
    keyed: bool,
    issued: &IssuedTokens,
    mark: LookupMark,
    now: UnixTime,
) -> HttpResponse {
    if keyed {
        state.linked.memory().remember_refresh_token(
            minted.pair.refresh_hash.clone(),
            issued.link_id,
            Arc::from(minted.pair.refresh_wrap.as_slice()),
            issued.expiries.refresh_expires_at,
            mark,
        );
    }
    tracing::info!(link_id = %issued.link_id, "broker tokens issued");
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    response.json(TokenResponse {
        access_token: minted.access.expose(),
        token_type: "Bearer",
        expires_in: issued.expiries.access_expires_at.as_secs() - now.as_secs(),
        refresh_token: minted.refresh.expose(),
    })
}
