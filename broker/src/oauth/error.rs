//! RFC 6749 error answers: the JSON body for the token and revocation endpoints (the pages people see
//! live in `pages.rs`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

/// An OAuth error code with its human description.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    code: &'static str,
    description: String,
    status: StatusCode,
    /// Seconds for `Retry-After` (503 says 1 when unset).
    retry_after_s: Option<u64>,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status,
            retry_after_s: None,
        }
    }

    /// 429 with `Retry-After`: this address failed client authentication too often; its credentials are
    /// not checked until then. RFC 6749 has no code for it: `temporarily_unavailable` says "retry later".
    pub fn too_many_failed_authentications(retry_after: std::time::Duration) -> Self {
        let retry_after_s = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self {
            retry_after_s: Some(retry_after_s.max(1)),
            ..Self::new(
                "temporarily_unavailable",
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed client authentications from this address; retry later",
            )
        }
    }

    /// 400 `invalid_request`: a parameter is missing, repeated or malformed.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, description)
    }

    /// `invalid_request` with 413 (the body) or 431 (the headers): the request is over a size limit.
    pub fn too_large(exceeded: broker_proto::limits::Exceeded) -> Self {
        Self::new("invalid_request", exceeded.status(), exceeded.to_string())
    }

    /// 401 `invalid_client` with `WWW-Authenticate`.
    pub fn invalid_client() -> Self {
        Self::new(
            "invalid_client",
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        )
    }

    /// 400 `invalid_grant`: the code or refresh token is dead, or does not match.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, description)
    }

    /// 400 `unauthorized_client`.
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, description)
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            StatusCode::BAD_REQUEST,
            "grant_type must be authorization_code or refresh_token",
        )
    }

    /// 503 `temporarily_unavailable`: a transient fault; the client should retry.
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "the broker cannot complete the request right now; retry shortly",
        )
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        no_store(&mut response);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="broker""#));
        }
        match (self.retry_after_s, self.status) {
            (Some(seconds), _) => {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            (None, StatusCode::SERVICE_UNAVAILABLE) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            (None, _) => {}
        }
        response.json(serde_json::json!({
            "error": self.code,
            "error_description": self.description,
        }))
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, as RFC 6749 requires on token answers.
pub fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}
