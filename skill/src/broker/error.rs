//! The broker's normalized errors, as the skill sees them.

use broker_proto::{ErrorBody, ErrorCode};

/// Why a broker call did not give an answer; one variant per normalized code, plus the skill's own failures.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// 401 `relink_required`: the link is gone or dead; the user must link again.
    #[error("relink required")]
    RelinkRequired,
    /// 401 `service_unauthorized`: the broker refused the skill's service token.
    #[error("the broker refused the skill's service token")]
    ServiceUnauthorized,
    /// 403 `forbidden`.
    #[error("spotify refused the request")]
    Forbidden,
    /// 403 `app_not_permitted`: the Spotify app is not allowed for this user; the operator must act.
    #[error("spotify does not permit the app for this user")]
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
    #[error("bad request")]
    BadRequest,
    /// 429 `rate_limited`: a burst; waited out.
    #[error("rate limited (retry after {retry_after_s:?} s)")]
    RateLimited {
        /// Seconds Spotify asked to wait, when known.
        retry_after_s: Option<u64>,
    },
    /// 429 `quota_exceeded`: the app's quota is used up (not a burst); waited out the same way.
    #[error("spotify quota exceeded (retry after {retry_after_s:?} s)")]
    QuotaExceeded {
        /// Seconds until Spotify may answer again, when known.
        retry_after_s: Option<u64>,
    },
    /// 409 `conflict`: the action does not fit the link's state (an admin code; never expected by the skill).
    #[error("conflict with the link's state")]
    Conflict,
    /// 503 `upstream_unavailable`: Spotify is failing.
    #[error("spotify unavailable")]
    UpstreamUnavailable,
    /// 503 `unavailable`: the broker's own store is failing.
    #[error("broker unavailable")]
    Unavailable,
    /// The skill's time budget ran out before the broker answered.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The broker could not be reached.
    #[error("broker unreachable: {0}")]
    Transport(String),
    /// The broker answered something outside its contract.
    #[error("unexpected broker answer ({status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl BrokerError {
    /// Maps a non-2xx answer to an error; `retry_after_header` is the `Retry-After` header, if any.
    pub fn from_response(status: u16, body: &[u8], retry_after_header: Option<u64>) -> Self {
        let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
            let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
            return Self::Unexpected {
                status,
                detail: format!("no normalized error body: {snippet}"),
            };
        };
        match parsed.error.code {
            ErrorCode::RelinkRequired => Self::RelinkRequired,
            ErrorCode::ServiceUnauthorized => Self::ServiceUnauthorized,
            ErrorCode::Forbidden => Self::Forbidden,
            ErrorCode::AppNotPermitted => Self::AppNotPermitted,
            ErrorCode::PremiumRequired => Self::PremiumRequired,
            ErrorCode::NoActiveDevice => Self::NoActiveDevice,
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::BadRequest => Self::BadRequest,
            ErrorCode::RateLimited => Self::RateLimited {
                retry_after_s: parsed.error.retry_after_s.or(retry_after_header),
            },
            ErrorCode::QuotaExceeded => Self::QuotaExceeded {
                retry_after_s: parsed.error.retry_after_s.or(retry_after_header),
            },
            ErrorCode::Conflict => Self::Conflict,
            ErrorCode::UpstreamUnavailable => Self::UpstreamUnavailable,
            ErrorCode::Unavailable => Self::Unavailable,
        }
    }

    /// A label for metrics: the broker's code, or what kept its answer from arriving.
    pub fn label(&self) -> &'static str {
        match self {
            Self::RelinkRequired => ErrorCode::RelinkRequired.as_str(),
            Self::ServiceUnauthorized => ErrorCode::ServiceUnauthorized.as_str(),
            Self::Forbidden => ErrorCode::Forbidden.as_str(),
            Self::AppNotPermitted => ErrorCode::AppNotPermitted.as_str(),
            Self::PremiumRequired => ErrorCode::PremiumRequired.as_str(),
            Self::NoActiveDevice => ErrorCode::NoActiveDevice.as_str(),
            Self::NotFound => ErrorCode::NotFound.as_str(),
            Self::BadRequest => ErrorCode::BadRequest.as_str(),
            Self::RateLimited { .. } => ErrorCode::RateLimited.as_str(),
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded.as_str(),
            Self::Conflict => ErrorCode::Conflict.as_str(),
            Self::UpstreamUnavailable => ErrorCode::UpstreamUnavailable.as_str(),
            Self::Unavailable => ErrorCode::Unavailable.as_str(),
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Transport(_) => "unreachable",
            Self::Unexpected { .. } => "unexpected",
        }
    }

    /// Whether trying again later may succeed (used to ask Alexa to redeliver skill events).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::QuotaExceeded { .. }
                | Self::UpstreamUnavailable
                | Self::Unavailable
                | Self::DeadlineExceeded
                | Self::Transport(_)
                | Self::ServiceUnauthorized
                | Self::Unexpected { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, retry: Option<u64>) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": {"code": code, "message": "m", "retry_after_s": retry}
        }))
        .unwrap()
    }

    #[test]
    fn every_normalized_code_has_its_variant() {
        for code in ErrorCode::ALL {
            let error =
                BrokerError::from_response(code.http_status(), &body(code.as_str(), None), None);
            assert!(!matches!(error, BrokerError::Unexpected { .. }), "{code}");
        }
        assert!(matches!(
            BrokerError::from_response(429, &body("quota_exceeded", Some(60)), None),
            BrokerError::QuotaExceeded {
                retry_after_s: Some(60)
            }
        ));
    }

    #[test]
    fn retry_after_comes_from_the_body_or_the_header() {
        assert!(matches!(
            BrokerError::from_response(429, &body("rate_limited", Some(7)), Some(3)),
            BrokerError::RateLimited {
                retry_after_s: Some(7)
            }
        ));
        assert!(matches!(
            BrokerError::from_response(429, &body("rate_limited", None), Some(3)),
            BrokerError::RateLimited {
                retry_after_s: Some(3)
            }
        ));
    }

    #[test]
    fn garbage_is_unexpected() {
        assert!(matches!(
            BrokerError::from_response(502, b"<html>", None),
            BrokerError::Unexpected { status: 502, .. }
        ));
        assert!(matches!(
            BrokerError::from_response(400, &body("brand_new_code", None), None),
            BrokerError::Unexpected { .. }
        ));
    }
}
