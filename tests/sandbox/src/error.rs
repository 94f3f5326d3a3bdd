//! The sandbox's one error type, rendered in the exact shapes Spotify uses for each surface.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Everything a sandbox endpoint can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// `/authorize` rejects the request without redirecting: 400, plain text such as `INVALID_CLIENT: Invalid client`.
    #[error("authorize request rejected: {0}")]
    Authorize(&'static str),
    /// `/api/token` error: 400 (401 for `invalid_client` never happens at Spotify), `{"error","error_description"}`.
    #[error("token request rejected: {error}: {description}")]
    OAuth {
        /// RFC 6749 error code.
        error: &'static str,
        /// Spotify's `error_description`.
        description: &'static str,
    },
    /// Web API error: the given status, `{"error":{"status","message"[,"reason"]}}`, plus
    /// `WWW-Authenticate` on 401.
    #[error("web api error {status}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// Spotify's message.
        message: Cow<'static, str>,
        /// Spotify's player error reason, e.g. `PREMIUM_REQUIRED`.
        reason: Option<&'static str>,
    },
    /// Web API call by a user not registered for the app: 403, plain text.
    #[error("user not registered in the developer dashboard")]
    NotRegistered,
    /// Web API call of a development-mode app whose owner's Premium lapsed: 403, plain text. The text is
    /// what Spotify sends (as reported in zmb3/spotify#301, spotipy-dev/spotipy#1233 and
    /// spotDL/spotify-downloader#2634, 159 characters, not JSON); the February 2026 migration guide says
    /// the app "will stop working" until the owner resubscribes.
    #[error("the app owner's premium lapsed")]
    OwnerLacksPremium,
    /// Malformed control request: 400, `{"error": "<message>"}`.
    #[error("bad control request: {0}")]
    Control(String),
    /// Control request that does not fit the sandbox's state (a sixth user on a development-mode
    /// allowlist): 409, `{"error": "<message>"}`.
    #[error("conflict: {0}")]
    ControlConflict(String),
    /// Control request naming an unknown user or device: 404, `{"error": "<message>"}`.
    #[error("not found: {0}")]
    ControlNotFound(String),
}

impl SandboxError {
    /// A `/api/token` error.
    pub fn oauth(error: &'static str, description: &'static str) -> Self {
        Self::OAuth { error, description }
    }

    /// A Web API error without a reason.
    pub fn api(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Api {
            status,
            message: message.into(),
            reason: None,
        }
    }

    /// A player error with Spotify's `reason`.
    pub fn player(status: StatusCode, message: &'static str, reason: &'static str) -> Self {
        Self::Api {
            status,
            message: Cow::Borrowed(message),
            reason: Some(reason),
        }
    }

    /// 401 for a missing, unknown or expired access token.
    pub fn unauthorized(message: &'static str) -> Self {
        Self::api(StatusCode::UNAUTHORIZED, message)
    }

    /// 400 with a Spotify-shaped body.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with a Spotify-shaped body.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::api(StatusCode::NOT_FOUND, message)
    }
}

/// Spotify's plain-text 403 body for every Web API call of an app whose owner lacks Premium.
pub const OWNER_LACKS_PREMIUM: &str = "Active premium subscription required for the owner of the app. \
     When the subscription status changes, it can take a few hours before requests are allowed again.";

/// The body of a Spotify Web API error.
pub fn api_error_body(
    status: StatusCode,
    message: &str,
    reason: Option<&str>,
) -> serde_json::Value {
    match reason {
        Some(reason) => {
            json!({"error": {"status": status.as_u16(), "message": message, "reason": reason}})
        }
        None => json!({"error": {"status": status.as_u16(), "message": message}}),
    }
}

impl ResponseError for SandboxError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Authorize(_) | Self::OAuth { .. } | Self::Control(_) => StatusCode::BAD_REQUEST,
            Self::Api { status, .. } => *status,
            Self::NotRegistered | Self::OwnerLacksPremium => StatusCode::FORBIDDEN,
            Self::ControlConflict(_) => StatusCode::CONFLICT,
            Self::ControlNotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Authorize(message) => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(*message),
            Self::OAuth { error, description } => HttpResponse::build(status)
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(json!({"error": error, "error_description": description})),
            Self::Api {
                message, reason, ..
            } => {
                let mut builder = HttpResponse::build(status);
                if status == StatusCode::UNAUTHORIZED {
                    let challenge = format!(
                        "Bearer realm=\"spotify\", error=\"invalid_token\", error_description=\"{message}\""
                    );
                    if let Ok(value) = HeaderValue::from_str(&challenge) {
                        builder.insert_header((header::WWW_AUTHENTICATE, value));
                    }
                }
                builder.json(api_error_body(status, message, *reason))
            }
            Self::NotRegistered => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body("User not registered in the Developer Dashboard"),
            Self::OwnerLacksPremium => HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(OWNER_LACKS_PREMIUM),
            Self::Control(message)
            | Self::ControlNotFound(message)
            | Self::ControlConflict(message) => {
                HttpResponse::build(status).json(json!({"error": message}))
            }
        }
    }
}
