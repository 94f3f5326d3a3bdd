//! The two credentials on every internal call: the skill's `X-Service-Token` and the user's bearer token.

use actix_web::HttpRequest;
use actix_web::http::header;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::BrokerAccessToken;
use crate::error::ApiError;

/// Whether `presented` equals one of `accepted`, comparing fixed-length digests in constant time.
pub fn constant_time_contains(accepted: &[SecretString], presented: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    accepted.iter().fold(false, |found, candidate| {
        let candidate = Sha256::digest(candidate.expose_secret().as_bytes());
        found | bool::from(candidate.ct_eq(&presented))
    })
}

/// Checks `X-Service-Token`.
pub fn require_service(request: &HttpRequest, accepted: &[SecretString]) -> Result<(), ApiError> {
    let presented = request
        .headers()
        .get("x-service-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::ServiceUnauthorized)?;
    if constant_time_contains(accepted, presented) {
        Ok(())
    } else {
        Err(ApiError::ServiceUnauthorized)
    }
}

/// The `Authorization: Bearer` token, if it has the shape of a broker access token.
pub fn bearer(request: &HttpRequest) -> Result<BrokerAccessToken, ApiError> {
    bearer_value(request)
        .and_then(|raw| BrokerAccessToken::parse(raw).ok())
        .ok_or(ApiError::RelinkRequired(
            "missing or malformed linked token",
        ))
}

/// The raw bearer credential, if any.
pub fn bearer_value(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
