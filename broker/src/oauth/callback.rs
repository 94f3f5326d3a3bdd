//! `GET /oauth/spotify/callback`: finish Spotify's consent, store the link, and hand Alexa a one-time code.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::authorize::{redirect, redirect_error, with_state};
use super::error::error_page;
use super::params::Params;
use crate::domain::{AuthorizationCode, OAuthState, TokenHash, UnixTime};
use crate::spotify::{AccountsError, ProfileError, SpotifyProfile};
use crate::state::SharedState;
use crate::store::{NewAuthorizationCode, NewLink, PendingAuthorization, SpotifyTokens};

/// Every answer clears the binding cookie: it serves one callback.
/// Finishes Spotify's consent in the browser that started linking, and hands Alexa a one-time code.
#[utoipa::path(
    get,
    path = "/oauth/spotify/callback",
    operation_id = "spotify_callback",
    tag = "oauth",
    params(super::CallbackQuery),
    responses(
        (status = 302, description = "to Alexa's redirect URI with `code` and `state`, or with an OAuth error", headers(("Location" = String))),
        (status = 400, description = "unknown or expired state, or another browser: an error page", content_type = "text/html"),
        (status = 503, description = "the store cannot be reached: an error page", content_type = "text/html"),
    )
)]
pub async fn spotify_callback(request: HttpRequest, state: SharedState) -> HttpResponse {
    let mut response = finish(&request, &state).await;
    state.linking_guard.cookie.clear(&mut response);
    response
}

async fn finish(request: &HttpRequest, state: &SharedState) -> HttpResponse {
    let params = match Params::parse(request.query_string().as_bytes()) {
        Ok(params) => params,
        Err(err) => return error_page(StatusCode::BAD_REQUEST, err.code(), err.description()),
    };
    let Some(state_hash) = params
        .get("state")
        .and_then(|raw| OAuthState::parse(raw).ok())
        .map(|s| s.hash())
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the state is missing or malformed",
        );
    };
    // Only the browser that started linking may finish it: a callback URL opened anywhere else (sent by
    // an attacker who consented with their own Spotify account) issues no code and uses nothing up.
    let Some(browser) = state.linking_guard.cookie.read(request) else {
        tracing::info!("spotify callback without the linking cookie");
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "finish linking in the browser where it started; start again from the Alexa app",
        );
    };
    let now = UnixTime::now();
    let pending = match state
        .store
        .take_pending_authorization(&state_hash, &browser.hash(), now)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "this linking attempt expired, was already used, or was started in another browser; \
                 start again from the Alexa app",
            );
        }
        Err(err) => {
            tracing::error!(error = ?err, "reading pending authorization failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the broker cannot finish linking right now; try again shortly",
            );
        }
    };
    if let Some(error) = params.get("error") {
        tracing::info!(spotify_error = error, "spotify consent did not complete");
        let code = if error == "access_denied" {
            "access_denied"
        } else {
            "server_error"
        };
        return redirect_error(
            &pending.redirect_uri,
            &pending.alexa_state,
            code,
            "spotify did not grant access",
        );
    }
    let Some(code) = params.get("code") else {
        return redirect_error(
            &pending.redirect_uri,
            &pending.alexa_state,
            "server_error",
            "spotify sent no code",
        );
    };
    match complete(state, &pending, code, now).await {
        Ok(location) => redirect(&location),
        Err((code, description)) => redirect_error(
            &pending.redirect_uri,
            &pending.alexa_state,
            code,
            description,
        ),
    }
}

/// Exchanges Spotify's code, stores the link and mints Alexa's code; on failure, the OAuth error to send.
#[tracing::instrument(skip_all)]
async fn complete(
    state: &SharedState,
    pending: &PendingAuthorization,
    code: &str,
    now: UnixTime,
) -> Result<String, (&'static str, &'static str)> {
    let grant = state
        .spotify_accounts
        .exchange_code(code, &pending.spotify_code_verifier)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "spotify code exchange failed");
            match err {
                AccountsError::InvalidGrant => {
                    ("access_denied", "spotify did not accept the authorization")
                }
                AccountsError::InvalidClient => {
                    ("server_error", "the broker's spotify app is misconfigured")
                }
                AccountsError::RateLimited | AccountsError::Unavailable(_) => (
                    "temporarily_unavailable",
                    "spotify is unavailable; try again shortly",
                ),
            }
        })?;
    let Some(refresh_token) = grant.refresh_token else {
        tracing::warn!("spotify granted no refresh token");
        return Err(("server_error", "spotify granted no refresh token"));
    };
    let profile = SpotifyProfile::fetch(
        &state.spotify_http,
        &state.spotify_api_url,
        &grant.access_token,
    )
    .await
    .map_err(|err| {
        tracing::warn!(error = %err, "reading the spotify profile failed");
        match err {
            ProfileError::Refused(_) => ("access_denied", "spotify refused to share the account"),
            ProfileError::Unavailable(_) => (
                "temporarily_unavailable",
                "spotify is unavailable; try again shortly",
            ),
        }
    })?;
    let unavailable = |err: crate::store::StoreError| {
        tracing::error!(error = ?err, "storing the link failed");
        (
            "temporarily_unavailable",
            "the broker cannot store the link right now",
        )
    };
    let link = NewLink {
        spotify_user_id: profile.user_id,
        display_name: profile.display_name,
        scopes: grant.scopes.unwrap_or_default(),
        tokens: SpotifyTokens {
            access_token: grant.access_token,
            access_expires_at: grant.access_expires_at,
            refresh_token,
        },
    };
    let link_id = state.lifecycle.link(&link).await.map_err(unavailable)?;
    let alexa_code = AuthorizationCode::generate();
    let code_hash: TokenHash = alexa_code.hash();
    let record = NewAuthorizationCode {
        code_hash,
        link_id,
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        expires_at: now.plus_secs(state.oauth.authorization_code_ttl_s),
    };
    state
        .store
        .insert_authorization_code(&record, now)
        .await
        .map_err(unavailable)?;
    tracing::info!(link_id = %link_id, "spotify account linked");
    Ok(pending.redirect_uri.with_query(&with_state(
        &[("code", alexa_code.expose())],
        &pending.alexa_state,
    )))
}
