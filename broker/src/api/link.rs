//! `GET /v1/link` (the user's link status and relink deadline) and `POST /v1/link/revoke` (the user
//! disabled the skill).

use actix_web::{HttpRequest, HttpResponse};
use broker_proto::{LinkState, LinkStatusBody};

use super::credentials;
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
    let linked = state.proxy.linked();
    let link_id = linked.authenticate(&credentials::bearer(&request)?).await?;
    let link = linked.link(&link_id).await?;
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

pub async fn revoke(request: HttpRequest, state: SharedState) -> Result<HttpResponse, ApiError> {
    credentials::require_service(&request, &state.service_tokens)?;
    let linked = state.proxy.linked();
    let link_id = linked.authenticate(&credentials::bearer(&request)?).await?;
    linked.revoke(&link_id, "user").await?;
    state.proxy.forget_link(&link_id).await;
    tracing::info!(link_id = %link_id, "link revoked by the user");
    Ok(HttpResponse::NoContent().finish())
}
