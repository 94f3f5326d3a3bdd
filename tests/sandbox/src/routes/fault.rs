//! The answers of injected faults: a 5xx, a 429 with `Retry-After`, or the quota's 429, in Spotify's error shape.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;

use crate::error::api_error_body;
use crate::state::faults::FaultKind;

/// The response for an injected fault.
pub fn response(kind: FaultKind) -> HttpResponse {
    match kind {
        FaultKind::Status { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = match status.as_u16() {
                502 => "Bad gateway.",
                503 => "Service unavailable",
                504 => "Gateway timeout",
                _ => "Server error.",
            };
            HttpResponse::build(status).json(api_error_body(status, message, None))
        }
        FaultKind::RateLimit { retry_after_s } => HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after_s.to_string()))
            .json(api_error_body(
                StatusCode::TOO_MANY_REQUESTS,
                "API rate limit exceeded",
                None,
            )),
        FaultKind::QuotaExceeded { retry_after_s } => {
            let mut response = HttpResponse::TooManyRequests();
            if let Some(seconds) = retry_after_s {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            response.json(api_error_body(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                Some("QUOTA_EXCEEDED"),
            ))
        }
    }
}
