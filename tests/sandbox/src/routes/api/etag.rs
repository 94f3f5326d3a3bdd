//! JSON answers with an `ETag`, and 304 Not Modified when the client's `If-None-Match` matches it.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::SandboxError;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Serializes `value`; answers 304 when `If-None-Match` names its ETag, else 200 with the ETag.
pub fn conditional_json(
    req: &HttpRequest,
    value: &serde_json::Value,
) -> Result<HttpResponse, SandboxError> {
    let body = serde_json::to_vec(value).map_err(|e| {
        SandboxError::api(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("serializing response: {e}"),
        )
    })?;
    let digest = Sha256::digest(&body);
    let mut etag = String::with_capacity(36);
    etag.push_str("\"MC-");
    for byte in digest.iter().take(16) {
        etag.push(char::from(HEX[usize::from(byte >> 4)]));
        etag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    etag.push('"');
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|candidate| {
                let candidate = candidate.trim();
                candidate == "*" || candidate.trim_start_matches("W/") == etag
            })
        });
    let etag_value = HeaderValue::from_str(&etag).map_err(|e| {
        SandboxError::api(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("etag header: {e}"),
        )
    })?;
    if matches {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag_value))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag_value))
        .content_type("application/json; charset=utf-8")
        .body(body))
}
