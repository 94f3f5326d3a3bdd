//! The broker's normalized errors: every non-2xx answer of the internal and admin API renders one of these.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use broker_proto::limits::{BodyError, Exceeded};
use broker_proto::{ErrorBody, ErrorCode};

use crate::store::StoreError;

/// A failure as the skill and operators see it (DESIGN.md, "Normalized errors").
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 `relink_required`: the user must link again.
    #[error("relink required: {0}")]
    RelinkRequired(&'static str),
    /// 401 `service_unauthorized`: missing or wrong service or admin credential.
    #[error("service credential missing or wrong")]
    ServiceUnauthorized,
    /// 403 `forbidden`.
    #[error("spotify refused the request")]
    Forbidden,
    /// 403 `app_not_permitted`: Spotify refuses the app itself; an operator must act.
    #[error("spotify refuses this app")]
    AppNotPermitted,
    /// 403 `premium_required`.
    #[error("spotify premium required")]
    PremiumRequired,
    /// 404 `no_active_device`.
    #[error("no active spotify device")]
    NoActiveDevice,
    /// 404 `not_found`.
    #[error("not found")]
    NotFound,
    /// 400 `bad_request`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// `bad_request` with 413 (the body) or 431 (the headers): the request is over a size limit. The
    /// contract has no code of its own for it; the status tells it apart.
    #[error("{0}")]
    TooLarge(Exceeded),
    /// 429 `rate_limited`, with the seconds to wait.
    #[error("rate limited for {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// 409 `conflict`: the action does not fit the link's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429 `quota_exceeded`: the app's Spotify quota is used up; with the seconds to wait.
    #[error("spotify quota exceeded; retry in {retry_after_s} s")]
    QuotaExceeded { retry_after_s: u64 },
    /// 503 `upstream_unavailable`: Spotify failed and no usable cached answer exists.
    #[error("spotify unavailable")]
    UpstreamUnavailable,
    /// 503 `unavailable`: the broker's own store cannot be reached.
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    /// Anything else; rendered as `unavailable` (503) so a client retries, with the cause in the log only.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(err),
            other => Self::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge(exceeded) => Self::TooLarge(exceeded),
            BodyError::Unreadable => Self::BadRequest(err.to_string()),
        }
    }
}

impl ApiError {
    /// The normalized code this failure travels as; its HTTP status comes with it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::RelinkRequired(_) => ErrorCode::RelinkRequired,
            Self::ServiceUnauthorized => ErrorCode::ServiceUnauthorized,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::AppNotPermitted => ErrorCode::AppNotPermitted,
            Self::PremiumRequired => ErrorCode::PremiumRequired,
            Self::NoActiveDevice => ErrorCode::NoActiveDevice,
            Self::NotFound => ErrorCode::NotFound,
            Self::BadRequest(_) | Self::TooLarge(_) => ErrorCode::BadRequest,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::UpstreamUnavailable => ErrorCode::UpstreamUnavailable,
            Self::Unavailable(_) | Self::Unexpected(_) => ErrorCode::Unavailable,
        }
    }

    /// Whether the failure is passing (Spotify failing or slow, the app-wide pause, the store away), so
    /// that a stale cached answer is better than none. Spotify's own 4xx answers are not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnavailable
                | Self::RateLimited { .. }
                | Self::QuotaExceeded { .. }
                | Self::Unavailable(_)
        )
    }

    /// The same failure for another caller of a shared fetch; an internal cause (logged once already)
    /// is not copied, only its code.
    pub fn for_another_caller(&self) -> Self {
        match self {
            Self::RelinkRequired(why) => Self::RelinkRequired(why),
            Self::ServiceUnauthorized => Self::ServiceUnauthorized,
            Self::Forbidden => Self::Forbidden,
            Self::AppNotPermitted => Self::AppNotPermitted,
            Self::PremiumRequired => Self::PremiumRequired,
            Self::NoActiveDevice => Self::NoActiveDevice,
            Self::NotFound => Self::NotFound,
            Self::BadRequest(why) => Self::BadRequest(why.clone()),
            Self::TooLarge(exceeded) => Self::TooLarge(*exceeded),
            Self::Conflict(why) => Self::Conflict(why.clone()),
            Self::RateLimited { retry_after_s } => Self::RateLimited {
                retry_after_s: *retry_after_s,
            },
            Self::QuotaExceeded { retry_after_s } => Self::QuotaExceeded {
                retry_after_s: *retry_after_s,
            },
            Self::UpstreamUnavailable => Self::UpstreamUnavailable,
            Self::Unavailable(_) | Self::Unexpected(_) => {
                Self::Unexpected(anyhow::anyhow!("a shared fetch failed"))
            }
        }
    }

    fn message(&self) -> String {
        match self {
            Self::RelinkRequired(_) => "the spotify account must be linked again".to_owned(),
            Self::BadRequest(why) | Self::Conflict(why) => why.clone(),
            Self::Unavailable(_) | Self::Unexpected(_) => {
                "the broker cannot complete the request right now".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        if let Self::TooLarge(exceeded) = self {
            return exceeded.status();
        }
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if matches!(self, Self::Unavailable(_) | Self::Unexpected(_)) {
            tracing::error!(error = ?self, "request failed");
        }
        let retry_after_s = match self {
            Self::RateLimited { retry_after_s } | Self::QuotaExceeded { retry_after_s } => {
                Some(*retry_after_s)
            }
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(seconds) = retry_after_s {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let message = self.message();
        response.json(ErrorBody::new(self.code(), message, retry_after_s))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    #[test]
    fn every_variant_renders_its_code_and_status_through_the_wire_contract() {
        let cases = [
            ApiError::RelinkRequired("x"),
            ApiError::ServiceUnauthorized,
            ApiError::Forbidden,
            ApiError::AppNotPermitted,
            ApiError::PremiumRequired,
            ApiError::NoActiveDevice,
            ApiError::NotFound,
            ApiError::BadRequest("bad".into()),
            ApiError::RateLimited { retry_after_s: 7 },
            ApiError::Conflict("link revoked".into()),
            ApiError::UpstreamUnavailable,
            ApiError::Unexpected(anyhow::anyhow!("boom")),
        ];
        for error in cases {
            let response = error.error_response();
            assert_eq!(response.status().as_u16(), error.code().http_status());
            let bytes = response.into_body().try_into_bytes().unwrap();
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body.error.code, error.code(), "{error}");
        }
        assert_eq!(ApiError::Conflict("x".into()).status_code(), 409);
        for (exceeded, status) in [
            (Exceeded::Body { limit: 10 }, 413),
            (Exceeded::Headers { limit: 10 }, 431),
        ] {
            let response = ApiError::TooLarge(exceeded).error_response();
            assert_eq!(response.status(), status);
            let bytes = response.into_body().try_into_bytes().unwrap();
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body.error.code, ErrorCode::BadRequest);
            assert_eq!(body.error.message, exceeded.to_string());
        }
        assert_eq!(
            ApiError::Unexpected(anyhow::anyhow!("boom")).status_code(),
            503
        );
    }
}
