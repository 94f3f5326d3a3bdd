//! `GET /oauth/spotify/callback`: finish Spotify's consent, store the link, and hand Alexa a one-time code.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::authorize::{redirect, redirect_error, with_state};
use super::pages::{Page, render};
use super::params::Params;
use crate::crypto::{DataKey, WrapAad};
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
        Err(err) => {
            tracing::info!(error = err.description(), "spotify callback malformed");
            return render(request, StatusCode::BAD_REQUEST, Page::UntrustedRequest);
        }
    };
    let Some(state_hash) = params
        .get("state")
        .and_then(|raw| OAuthState::parse(raw).ok())
        .map(|s| s.hash())
    else {
        tracing::info!("spotify callback without a usable state");
        return render(request, StatusCode::BAD_REQUEST, Page::AttemptExpired);
    };
    // Only the browser that started linking may finish it: a callback URL opened anywhere else (sent by
    // an attacker who consented with their own Spotify account) issues no code and uses nothing up.
    let Some(browser) = state.linking_guard.cookie.read(request) else {
        tracing::info!("spotify callback without the linking cookie");
        return render(request, StatusCode::BAD_REQUEST, Page::WrongBrowser);
    };
    let now = UnixTime::now();
    let pending = match state
        .store
        .take_pending_authorization(&state_hash, &browser.hash(), now)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            tracing::info!("spotify callback for an unknown, used or expired attempt");
            return render(request, StatusCode::BAD_REQUEST, Page::AttemptExpired);
        }
        Err(err) => {
            tracing::error!(error = ?err, "reading pending authorization failed");
            return render(request, StatusCode::SERVICE_UNAVAILABLE, Page::Unavailable);
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
        Err(Unfinished::Redirect(code, description)) => redirect_error(
            &pending.redirect_uri,
            &pending.alexa_state,
            code,
            description,
        ),
        Err(Unfinished::Refused(status, page)) => render(request, status, page),
    }
}

/// Why linking did not finish: an OAuth error sent back to Alexa, or Spotify refusing to serve the
/// account, which only the skill's owner can mend (a page saying so; no link is made).
enum Unfinished {
    Redirect(&'static str, &'static str),
    Refused(StatusCode, Page),
}

impl From<(&'static str, &'static str)> for Unfinished {
    fn from((code, description): (&'static str, &'static str)) -> Self {
        Self::Redirect(code, description)
    }
}

/// Spotify refused to serve the account at linking: logged, recorded for the operators, and shown.
async fn refused(state: &SharedState, err: &ProfileError, now: UnixTime) -> Option<Unfinished> {
    let (reason, status, page) = match err {
        ProfileError::NotOnAllowlist => (
            "user_not_registered",
            StatusCode::FORBIDDEN,
            Page::NotOnAllowlist,
        ),
        ProfileError::OwnerLacksPremium => {
            state.proxy.cooldown().owner_lacks_premium();
            (
                "owner_lacks_premium",
                StatusCode::SERVICE_UNAVAILABLE,
                Page::OwnerLacksPremium,
            )
        }
        ProfileError::Refused(_) | ProfileError::Unavailable(_) => return None,
    };
    tracing::warn!(
        reason,
        "spotify refused to serve the account at linking; no link made (the skill's owner must act)"
    );
    if let Err(store_err) = state.store.record_app_refusal(reason, now).await {
        tracing::error!(error = ?store_err, "recording the refusal failed");
    }
    Some(Unfinished::Refused(status, page))
}

/// Exchanges Spotify's code, stores the link and mints Alexa's code; on failure, the OAuth error to send.
#[tracing::instrument(skip_all)]
async fn complete(
    state: &SharedState,
    pending: &PendingAuthorization,
    code: &str,
    now: UnixTime,
) -> Result<String, Unfinished> {
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
        return Err(("server_error", "spotify granted no refresh token").into());
    };
    let profile = match SpotifyProfile::fetch(
        &state.spotify_http,
        &state.spotify_api_url,
        &grant.access_token,
    )
    .await
    {
        Ok(profile) => Ok(profile),
        Err(err) => match refused(state, &err, now).await {
            Some(unfinished) => return Err(unfinished),
            None => Err(err),
        },
    }
    .map_err(|err| {
        tracing::warn!(error = %err, "reading the spotify profile failed");
        match err {
            ProfileError::Refused(_)
            | ProfileError::NotOnAllowlist
            | ProfileError::OwnerLacksPremium => {
                ("access_denied", "spotify refused to share the account")
            }
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
    // A new data key seals the link's Spotify tokens; Alexa's code is the first secret it is wrapped for.
    let key = DataKey::generate();
    let link_id = state
        .lifecycle
        .link(&link, &key)
        .await
        .map_err(unavailable)?;
    let alexa_code = AuthorizationCode::generate();
    let code_hash: TokenHash = alexa_code.hash();
    let wrapped_data_key = key
        .wrap_for(alexa_code.expose(), &WrapAad::new(&link_id, &code_hash))
        .map_err(|err| {
            tracing::error!(error = %err, "wrapping the link's key for the code failed");
            ("server_error", "the broker cannot finish linking right now")
        })?;
    let record = NewAuthorizationCode {
        code_hash,
        link_id,
        client_id: pending.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        expires_at: now.plus_secs(state.oauth.authorization_code_ttl_s),
        wrapped_data_key,
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
