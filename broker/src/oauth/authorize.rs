//! `GET /oauth/authorize`: check Alexa's request, remember it, and send the user to Spotify's consent.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::error::no_store;
use super::pages::{Page, render};
use super::params::Params;
use crate::domain::{
    BrowserBinding, CodeChallenge, CodeVerifier, OAuthState, RedirectUri, UnixTime,
};
use crate::state::SharedState;
use crate::store::PendingAuthorization;

/// Longest `state` accepted from a client.
const MAX_STATE_LEN: usize = 2048;
/// Longest `scope` accepted from a client (it is kept with the pending authorization).
const MAX_SCOPE_LEN: usize = 1024;

/// Starts linking: checks Alexa's request and sends the browser to Spotify's consent.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    operation_id = "authorize",
    tag = "oauth",
    params(super::AuthorizeQuery),
    responses(
        (status = 302, description = "to Spotify's consent (sets the linking cookie), or an OAuth error back to Alexa's redirect URI", headers(("Location" = String))),
        (status = 400, description = "unknown client or redirect URI, or a malformed query: an error page, no redirect", content_type = "text/html"),
        (status = 429, description = "too many authorizations from this address or client: an error page with `Retry-After`", content_type = "text/html", headers(("Retry-After" = u64))),
    )
)]
pub async fn authorize(request: HttpRequest, state: SharedState) -> HttpResponse {
    let params = match Params::parse(request.query_string().as_bytes()) {
        Ok(params) => params,
        Err(err) => {
            tracing::info!(error = err.description(), "authorization request malformed");
            return render(&request, StatusCode::BAD_REQUEST, Page::UntrustedRequest);
        }
    };
    // Until client and redirect URI are known good, nothing is redirected (RFC 6749 §4.1.2.1).
    let client_ok = params.get("client_id") == Some(state.alexa.client_id.as_str());
    if !client_ok {
        tracing::info!("authorization request from an unknown client");
        return render(&request, StatusCode::BAD_REQUEST, Page::UntrustedRequest);
    }
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .and_then(|raw| {
            state
                .alexa
                .redirect_uris
                .iter()
                .find(|allowed| allowed.as_str() == raw)
        })
        .cloned()
    else {
        tracing::info!("authorization request with an unregistered redirect uri");
        return render(&request, StatusCode::BAD_REQUEST, Page::UntrustedRequest);
    };
    let alexa_state = params.get("state").unwrap_or_default().to_owned();
    let fail = |code: &str, description: &str| {
        redirect_error(&redirect_uri, &alexa_state, code, description)
    };
    if alexa_state.len() > MAX_STATE_LEN {
        return fail("invalid_request", "state is too long");
    }
    let scope = params.get("scope");
    if scope.is_some_and(|scope| scope.len() > MAX_SCOPE_LEN) {
        return fail("invalid_scope", "scope is too long");
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => return fail("unsupported_response_type", "response_type must be code"),
        None => return fail("invalid_request", "response_type is required"),
    }
    let code_challenge = match params.get("code_challenge") {
        Some(challenge) => {
            match CodeChallenge::parse(challenge, params.get("code_challenge_method")) {
                Ok(challenge) => Some(challenge),
                Err(err) => return fail("invalid_request", err.0),
            }
        }
        None if params.get("code_challenge_method").is_some() => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        None => None,
    };
    // Only a request that would store a row counts toward the caps; over them, nothing is stored.
    let peer = request.peer_addr().map(|address| address.ip());
    if let Err(exceeded) = state
        .linking_guard
        .limits
        .check(peer, &state.alexa.client_id)
    {
        tracing::warn!(
            limit = exceeded.limit,
            "authorization refused: too many started in the last minute"
        );
        return too_many(&request, exceeded.retry_after);
    }
    let oauth_state = OAuthState::generate();
    let verifier = CodeVerifier::generate();
    let browser = BrowserBinding::generate();
    let now = UnixTime::now();
    let pending = PendingAuthorization {
        state_hash: oauth_state.hash(),
        client_id: state.alexa.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        alexa_state: alexa_state.clone(),
        scope: scope.map(str::to_owned),
        code_challenge,
        spotify_code_verifier: verifier.clone(),
        browser_hash: browser.hash(),
        expires_at: now.plus_secs(state.oauth.pending_authorization_ttl_s),
    };
    if let Err(err) = state
        .store
        .insert_pending_authorization(&pending, now)
        .await
    {
        tracing::error!(error = ?err, "storing pending authorization failed");
        return fail(
            "temporarily_unavailable",
            "the broker cannot start linking right now",
        );
    }
    tracing::info!("authorization started, sending user to spotify");
    let mut response = redirect(
        &state
            .spotify_accounts
            .authorize_url(&oauth_state, &verifier),
    );
    state.linking_guard.cookie.set(&mut response, &browser);
    response
}

/// The page for a browser (or a client) over the caps: 429 with when to try again, nothing stored.
fn too_many(request: &HttpRequest, retry_after: Duration) -> HttpResponse {
    let mut response = render(
        request,
        StatusCode::TOO_MANY_REQUESTS,
        Page::TooManyAttempts,
    );
    let seconds = retry_after.as_secs().saturating_add(1);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

/// Appends Alexa's `state` when it sent one.
pub fn with_state<'a>(
    pairs: &[(&'a str, &'a str)],
    alexa_state: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut all = pairs.to_vec();
    if !alexa_state.is_empty() {
        all.push(("state", alexa_state));
    }
    all
}

/// A `302 Found` that no cache keeps.
pub fn redirect(location: &str) -> HttpResponse {
    let mut response = HttpResponse::Found();
    no_store(&mut response);
    response
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Sends an OAuth error back to Alexa's redirect URI.
pub fn redirect_error(
    uri: &RedirectUri,
    alexa_state: &str,
    code: &str,
    description: &str,
) -> HttpResponse {
    redirect(&uri.with_query(&with_state(
        &[("error", code), ("error_description", description)],
        alexa_state,
    )))
}
