//! The one wire contract between the broker and the skill (DESIGN.md flows 4–6, "Normalized errors"), so
//! that both sides, and the skill's fake broker in tests, stop compiling when a name changes.

use serde::{Deserialize, Serialize};

pub mod limits;
pub mod metrics;
pub mod shutdown;

/// The skill's own credential at the broker.
pub const SERVICE_TOKEN_HEADER: &str = "X-Service-Token";
/// Alexa's id for the user (`context.System.user.userId`), sent by the skill on every broker call.
pub const ALEXA_USER_ID_HEADER: &str = "X-Alexa-User-Id";
/// The caller's remaining time budget in milliseconds.
pub const DEADLINE_HEADER: &str = "X-Request-Deadline-Ms";
/// Where a proxied answer came from: `hit`, `miss`, `revalidated` or `stale`.
pub const CACHE_HEADER: &str = "X-Broker-Cache";

/// The same four headers as actix-web's `HeaderName`s, for the broker's hot path: a lookup by `&str`
/// parses the name again on every request. (`HeaderName::from_static` takes only lowercase; a test ties
/// each to its wire spelling above.)
pub mod header_names {
    use actix_web::http::header::HeaderName;

    pub const SERVICE_TOKEN: HeaderName = HeaderName::from_static("x-service-token");
    pub const ALEXA_USER_ID: HeaderName = HeaderName::from_static("x-alexa-user-id");
    pub const DEADLINE: HeaderName = HeaderName::from_static("x-request-deadline-ms");
    pub const CACHE: HeaderName = HeaderName::from_static("x-broker-cache");
}

/// Every normalized error code (DESIGN.md, "Normalized errors"); the wire string is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: the user must link again.
    RelinkRequired,
    /// 401: missing or wrong service (or admin) credential.
    ServiceUnauthorized,
    /// 403: Spotify refused the request.
    Forbidden,
    /// 403: Spotify refuses the app itself; an operator must act.
    AppNotPermitted,
    /// 403: Spotify Premium required.
    PremiumRequired,
    /// 404: no active Spotify device.
    NoActiveDevice,
    /// 404: unknown endpoint or resource.
    NotFound,
    /// 400: malformed input.
    BadRequest,
    /// 429: Spotify rate limit (a burst).
    RateLimited,
    /// 429: the app's Spotify quota is spent.
    QuotaExceeded,
    /// 409: an action that does not fit the link's state.
    Conflict,
    /// 503: Spotify failed and no usable cached answer exists.
    UpstreamUnavailable,
    /// 503: the broker's own store cannot be reached.
    Unavailable,
}

impl ErrorCode {
    /// Every code, in DESIGN.md's order.
    pub const ALL: [Self; 13] = [
        Self::RelinkRequired,
        Self::ServiceUnauthorized,
        Self::Forbidden,
        Self::AppNotPermitted,
        Self::PremiumRequired,
        Self::NoActiveDevice,
        Self::NotFound,
        Self::BadRequest,
        Self::RateLimited,
        Self::QuotaExceeded,
        Self::Conflict,
        Self::UpstreamUnavailable,
        Self::Unavailable,
    ];

    /// The code as it travels in the error body.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RelinkRequired => "relink_required",
            Self::ServiceUnauthorized => "service_unauthorized",
            Self::Forbidden => "forbidden",
            Self::AppNotPermitted => "app_not_permitted",
            Self::PremiumRequired => "premium_required",
            Self::NoActiveDevice => "no_active_device",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Conflict => "conflict",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::Unavailable => "unavailable",
        }
    }

    /// The HTTP status that goes with the code.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::RelinkRequired | Self::ServiceUnauthorized => 401,
            Self::Forbidden | Self::AppNotPermitted | Self::PremiumRequired => 403,
            Self::NoActiveDevice | Self::NotFound => 404,
            Self::BadRequest => 400,
            Self::RateLimited | Self::QuotaExceeded => 429,
            Self::Conflict => 409,
            Self::UpstreamUnavailable | Self::Unavailable => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every non-2xx answer: `{"error": {"code", "message", "retry_after_s"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inner error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The normalized code.
    pub code: ErrorCode,
    /// Human text for logs (never spoken, never a secret).
    #[serde(default)]
    pub message: String,
    /// Seconds to wait before retrying (`rate_limited`, `quota_exceeded`), else null.
    #[serde(default)]
    pub retry_after_s: Option<u64>,
}

impl ErrorBody {
    /// A body for `code` with `message` and an optional wait.
    pub fn new(code: ErrorCode, message: impl Into<String>, retry_after_s: Option<u64>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                retry_after_s,
            },
        }
    }
}

/// Where a link stands, as `GET /v1/link` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The link works.
    Active,
    /// Spotify refused the link's refresh token; the user must link again.
    RelinkRequired,
    /// The link was revoked.
    Revoked,
}

/// `GET /v1/link`: the user's link and its relink deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatusBody {
    /// The broker's id for the link.
    pub link_id: String,
    /// Where the link stands.
    pub status: LinkState,
    /// The Spotify account's display name, when Spotify gave one.
    #[serde(default)]
    pub display_name: Option<String>,
    /// When the user consented (RFC 3339).
    pub authorized_at: String,
    /// When the user must relink at the latest (RFC 3339; Spotify refresh tokens die six months after consent).
    pub relink_due_at: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_header_name_is_its_wire_spelling() {
        use super::header_names;
        for (name, wire) in [
            (header_names::SERVICE_TOKEN, super::SERVICE_TOKEN_HEADER),
            (header_names::ALEXA_USER_ID, super::ALEXA_USER_ID_HEADER),
            (header_names::DEADLINE, super::DEADLINE_HEADER),
            (header_names::CACHE, super::CACHE_HEADER),
        ] {
            assert_eq!(name.as_str(), wire.to_ascii_lowercase());
        }
    }

    use super::*;

    #[test]
    fn every_code_travels_as_its_snake_case_name() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
    }

    #[test]
    fn statuses_match_the_design() {
        let expected = [
            ("relink_required", 401),
            ("service_unauthorized", 401),
            ("forbidden", 403),
            ("app_not_permitted", 403),
            ("premium_required", 403),
            ("no_active_device", 404),
            ("not_found", 404),
            ("bad_request", 400),
            ("rate_limited", 429),
            ("quota_exceeded", 429),
            ("conflict", 409),
            ("upstream_unavailable", 503),
            ("unavailable", 503),
        ];
        assert_eq!(ErrorCode::ALL.len(), expected.len());
        for (code, (name, status)) in ErrorCode::ALL.iter().zip(expected) {
            assert_eq!((code.as_str(), code.http_status()), (name, status));
        }
    }

    #[test]
    fn the_error_body_has_the_documented_shape() {
        let body = ErrorBody::new(ErrorCode::RateLimited, "rate limited for 7 s", Some(7));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "rate_limited", "message": "rate limited for 7 s", "retry_after_s": 7}})
        );
        let null_wait: ErrorBody = serde_json::from_str(
            r#"{"error": {"code": "unavailable", "message": "m", "retry_after_s": null}}"#,
        )
        .unwrap();
        assert_eq!(null_wait.error.retry_after_s, None);
        assert!(serde_json::from_str::<ErrorBody>(r#"{"error": {"code": "brand_new"}}"#).is_err());
    }

    #[test]
    fn the_link_status_body_has_the_documented_shape() {
        let body = LinkStatusBody {
            link_id: "l1".into(),
            status: LinkState::RelinkRequired,
            display_name: None,
            authorized_at: "2026-01-01T00:00:00+00:00".into(),
            relink_due_at: "2026-07-03T00:00:00+00:00".into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["status"], "relink_required");
        assert_eq!(
            serde_json::from_value::<LinkStatusBody>(json).unwrap(),
            body
        );
    }
}
