//! `POST /oauth/revoke` (RFC 7009): a client gives up a broker token.

use actix_web::{HttpRequest, HttpResponse, web};

use super::OAuthError;
use super::client_auth::authenticate_limited;
use super::error::no_store;
use super::params::read_form;
use crate::domain::{TokenHash, UnixTime};
use crate::state::SharedState;

/// RFC 7009: a client gives up a broker token; a refresh token takes its grant with it.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "revoke_token",
    tag = "oauth",
    request_body(content = super::RevokeForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_basic" = [])),
    responses(
        (status = 200, description = "revoked, or unknown (RFC 7009 §2.2)"),
        (status = 400, description = "`invalid_request`", body = crate::openapi::OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate`", body = crate::openapi::OAuthErrorBody),
        (status = 413, description = "`invalid_request`: the body is larger than `server.max_body_bytes`", body = crate::openapi::OAuthErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed client authentications from this address, with `Retry-After`", body = crate::openapi::OAuthErrorBody, headers(("Retry-After" = u64))),
        (status = 503, description = "`temporarily_unavailable`: retry", body = crate::openapi::OAuthErrorBody),
    )
)]
pub async fn revoke(
    request: HttpRequest,
    payload: web::Payload,
    state: SharedState,
) -> Result<HttpResponse, OAuthError> {
    let params = read_form(&request, payload, state.max_body_bytes).await?;
    authenticate_limited(&request, &params, &state.alexa, &state.client_auth_limits)?;
    let token = params.require("token")?;
    // Unknown tokens are answered 200 too (RFC 7009 §2.2): a client learns nothing by probing.
    let hash = TokenHash::of(token);
    let now = UnixTime::now();
    let revoked = state.store.revoke_token(&hash, now).await.map_err(|err| {
        tracing::error!(error = ?err, "revoking a token failed");
        OAuthError::temporarily_unavailable()
    })?;
    if let Some(link_id) = revoked {
        state.lifecycle.broker_tokens_revoked(link_id);
        tracing::info!(link_id = %link_id, "token revoked by client");
    }
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.finish())
}
