//! The two credentials on every internal call: the skill's `X-Service-Token` and the user's bearer token.

use actix_web::HttpRequest;
use actix_web::http::header;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::BrokerAccessToken;
use crate::error::ApiError;

/// Accepted service or admin credentials, kept only as SHA-256 digests (computed once, at start) and
/// compared in constant time.
pub struct AcceptedTokens(Vec<[u8; 32]>);

impl AcceptedTokens {
    pub fn new(tokens: &[SecretString]) -> Self {
        Self(
            tokens
                .iter()
                .map(|token| Sha256::digest(token.expose_secret().as_bytes()).into())
                .collect(),
        )
    }

    /// Whether `presented` is one of the accepted tokens; always false when none are configured.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.iter().fold(false, |found, candidate| {
            found | bool::from(candidate.ct_eq(&presented))
        })
    }
}

impl std::fmt::Debug for AcceptedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AcceptedTokens({} [redacted])", self.0.len())
    }
}

/// Checks `X-Service-Token`.
pub fn require_service(request: &HttpRequest, accepted: &AcceptedTokens) -> Result<(), ApiError> {
    let presented = request
        .headers()
        .get("x-service-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::ServiceUnauthorized)?;
    if accepted.accepts(presented) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_tokens() {
        let accepted =
            AcceptedTokens::new(&[SecretString::from("svc-a"), SecretString::from("svc-b")]);
        assert!(accepted.accepts("svc-a") && accepted.accepts("svc-b"));
        assert!(!accepted.accepts("svc-c") && !accepted.accepts("") && !accepted.accepts("svc-a "));
        assert!(
            !AcceptedTokens::new(&[]).accepts(""),
            "no tokens configured: nothing is accepted"
        );
        assert!(!format!("{accepted:?}").contains("svc"));
    }
}
