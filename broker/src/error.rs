//! The broker's normalized errors: every non-2xx answer of the internal and admin API renders one of these.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

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
    /// 409 `conflict`: an admin action that does not fit the link's state.
    #[error("{0}")]
    Conflict(&'static str),
    /// 429 `rate_limited`, with the seconds to wait.
    #[error("rate limited for {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
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

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::RelinkRequired(_) => "relink_required",
            Self::ServiceUnauthorized => "service_unauthorized",
            Self::Forbidden => "forbidden",
            Self::AppNotPermitted => "app_not_permitted",
            Self::PremiumRequired => "premium_required",
            Self::NoActiveDevice => "no_active_device",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Unavailable(_) | Self::Unexpected(_) => "unavailable",
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
            Self::Conflict(why) => Self::Conflict(why),
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
            Self::BadRequest(why) => why.clone(),
            Self::Unavailable(_) | Self::Unexpected(_) => {
                "the broker cannot complete the request right now".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::RelinkRequired(_) | Self::ServiceUnauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::AppNotPermitted | Self::PremiumRequired => {
                StatusCode::FORBIDDEN
            }
            Self::NoActiveDevice | Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } | Self::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnavailable | Self::Unavailable(_) | Self::Unexpected(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
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
        response.json(Body {
            error: Inner {
                code: self.code(),
                message: &message,
                retry_after_s,
            },
        })
    }
}
