//! `GET /v1/link` (the user's link status and relink deadline) and `POST /v1/link/revoke` (the user
//! disabled the skill).

use actix_web::{HttpRequest, HttpResponse};
use broker_proto::{LinkState, LinkStatusBody};

use crate::credentials;
use crate::domain::{BrokerAccessToken, LinkId};
use crate::error::ApiError;
use crate::state::SharedState;
use crate::store::LinkStatus;

/// Spotify refresh tokens stop working six months after consent, whatever refreshing happens.
const SPOTIFY_GRANT_LIFETIME_S: i64 = 183 * 24 * 3600;

fn wire_state(status: LinkStatus) -> LinkState {
    match status {
        LinkStatus::Active => LinkState::Active,
        LinkStatus::RelinkRequired => LinkState::RelinkRequired,
        LinkStatus::Revoked => LinkState::Revoked,
    }
}

/// The documented shape of `broker_proto::LinkStatusBody`, the body the skill reads.
#[derive(utoipa::ToSchema)]
#[schema(as = LinkStatusBody)]
#[allow(dead_code)] // describes the wire type for the OpenAPI document only
pub struct LinkStatusDoc {
    #[schema(value_type = String, format = Uuid)]
    link_id: LinkId,
    status: LinkStatus,
    display_name: Option<String>,
    /// When the user consented at Spotify (RFC 3339).
    #[schema(format = DateTime)]
    authorized_at: String,
    /// Six months after consent, when Spotify's refresh token dies (RFC 3339).
    #[schema(format = DateTime)]
    relink_due_at: String,
}

/// The user's link: status and relink deadline.
#[utoipa::path(
    get,
    path = "/v1/link",
    operation_id = "link_status",
    tag = "internal",
    params(
        ("X-Alexa-User-Id" = Option<String>, Header, description = "Alexa's userId; bound (as a hash) to the link"),
    ),
    security(("broker_token" = [], "service_token" = [])),
    responses(
        (status = 200, description = "the link", body = LinkStatusDoc),
        (status = 400, description = "`bad_request`: a malformed header", body = crate::openapi::ErrorBody),
        (status = 401, description = "`relink_required` or `service_unauthorized`", body = crate::openapi::ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot be reached", body = crate::openapi::ErrorBody),
    )
)]
pub async fn status(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    credentials::require_service(&request, &state.service_tokens)?;
    let user = credentials::alexa_user(&request)?;
    let access = state
        .linked
        .authenticate(&credentials::bearer(&request)?, user.as_ref())
        .await?;
    let link = state.linked.link(&access).await?;
    if link.summary.status == LinkStatus::Revoked {
        return Err(ApiError::RelinkRequired("link revoked"));
    }
    let summary = &link.summary;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(LinkStatusBody {
            link_id: summary.link_id.to_string(),
            status: wire_state(summary.status),
            display_name: summary.display_name.clone(),
            authorized_at: summary.authorized_at.to_rfc3339(),
            relink_due_at: summary
                .authorized_at
                .plus_secs(SPOTIFY_GRANT_LIFETIME_S)
                .to_rfc3339(),
        }))
}

/// The user disabled the skill: revoke the link found by the token Alexa still had (live or expired) or
/// else by the Alexa user bound to it. 204 whether or not there was anything to revoke; `unavailable`
/// (503) when the store cannot be reached, so that Alexa delivers the event again.
#[utoipa::path(
    post,
    path = "/v1/link/revoke",
    operation_id = "revoke_link_for_user",
    tag = "internal",
    params(
        ("X-Alexa-User-Id" = Option<String>, Header, description = "Alexa's userId, to find the link when the token is gone"),
    ),
    security(("service_token" = [], "broker_token" = []), ("service_token" = [])),
    responses(
        (status = 204, description = "revoked, or nothing to revoke"),
        (status = 400, description = "`bad_request`: neither a linked token nor `X-Alexa-User-Id`", body = crate::openapi::ErrorBody),
        (status = 401, description = "`service_unauthorized`", body = crate::openapi::ErrorBody),
        (status = 503, description = "`unavailable`: the store cannot be reached; Alexa redelivers", body = crate::openapi::ErrorBody),
    )
)]
pub async fn revoke(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    credentials::require_service(&request, &state.service_tokens)?;
    let user = credentials::alexa_user(&request)?;
    let token =
        credentials::bearer_value(&request).and_then(|raw| BrokerAccessToken::parse(raw).ok());
    if token.is_none() && user.is_none() {
        return Err(ApiError::BadRequest(
            "send the user's linked token or X-Alexa-User-Id".to_owned(),
        ));
    }
    match state
        .lifecycle
        .revoke_for_alexa_user(token.as_ref(), user.as_ref())
        .await?
    {
        Some(link_id) => {
            tracing::info!(link_id = %link_id, "link revoked: the user disabled the skill")
        }
        None => tracing::info!("the user disabled the skill; no link to revoke"),
    }
    Ok(HttpResponse::NoContent().finish())
}
