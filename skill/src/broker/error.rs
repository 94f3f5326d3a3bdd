//! The broker's normalized errors, as the skill sees them.

use serde::Deserialize;

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
    /// 429 `rate_limited`.
    #[error("rate limited (retry after {retry_after_s:?} s)")]
    RateLimited {
        /// Seconds Spotify asked to wait, when known.
        retry_after_s: Option<u64>,
    },
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

/// `{"error": {"code", "message", "retry_after_s"}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inner error object.
#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    /// The normalized code.
    pub code: String,
    /// Human text (logged, never spoken).
    #[serde(default)]
    pub message: Option<String>,
    /// Seconds to wait before retrying.
    #[serde(default)]
    pub retry_after_s: Option<u64>,
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
        match parsed.error.code.as_str() {
            "relink_required" => Self::RelinkRequired,
            "service_unauthorized" => Self::ServiceUnauthorized,
            "forbidden" => Self::Forbidden,
            "app_not_permitted" => Self::AppNotPermitted,
            "premium_required" => Self::PremiumRequired,
            "no_active_device" => Self::NoActiveDevice,
            "not_found" => Self::NotFound,
            "bad_request" => Self::BadRequest,
            "rate_limited" => Self::RateLimited {
                retry_after_s: parsed.error.retry_after_s.or(retry_after_header),
            },
            "upstream_unavailable" => Self::UpstreamUnavailable,
            "unavailable" => Self::Unavailable,
            other => Self::Unexpected {
                status,
                detail: format!("unknown error code {other:?}"),
            },
        }
    }

    /// Whether trying again later may succeed (used to ask Alexa to redeliver skill events).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
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
        let cases: [(&str, u16); 11] = [
            ("relink_required", 401),
            ("service_unauthorized", 401),
            ("forbidden", 403),
            ("app_not_permitted", 403),
            ("premium_required", 403),
            ("no_active_device", 404),
            ("not_found", 404),
            ("bad_request", 400),
            ("rate_limited", 429),
            ("upstream_unavailable", 503),
            ("unavailable", 503),
        ];
        for (code, status) in cases {
            let error = BrokerError::from_response(status, &body(code, None), None);
            assert!(!matches!(error, BrokerError::Unexpected { .. }), "{code}");
        }
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
