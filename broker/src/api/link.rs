//! `GET /v1/link` (the user's link status and relink deadline) and `POST /v1/link/revoke` (the user
//! disabled the skill).

use actix_web::{HttpRequest, HttpResponse};
use broker_proto::{LinkState, LinkStatusBody};

use crate::credentials;
use crate::domain::BrokerAccessToken;
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
