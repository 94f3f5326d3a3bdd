//! Who is calling: the skill's `X-Service-Token`, an operator's admin token, the user's bearer token and
//! Alexa's user id, each checked or parsed here and nowhere else.

use actix_web::HttpRequest;
use actix_web::http::header;
use broker_proto::header_names::{
    ALEXA_USER_ID as ALEXA_USER_HEADER, SERVICE_TOKEN as SERVICE_TOKEN_HEADER,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::domain::{AdminId, AlexaUserId, BrokerAccessToken};
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
        self.matching(presented).is_some()
    }

    /// The digest of the accepted token `presented` is, comparing with every candidate in constant
    /// time (neither which token matched nor how much of it shows in the timing).
    fn matching(&self, presented: &str) -> Option<[u8; 32]> {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = Choice::from(0);
        let mut matched = [0u8; 32];
        for candidate in &self.0 {
            let hit = candidate.ct_eq(&presented);
            for (byte, candidate_byte) in matched.iter_mut().zip(candidate) {
                byte.conditional_assign(candidate_byte, hit);
            }
            found |= hit;
        }
        bool::from(found).then_some(matched)
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
        .get(SERVICE_TOKEN_HEADER)
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

/// Checks an operator's `Authorization: Bearer` admin token; returns which one it is, by its id.
pub fn require_admin(
    request: &HttpRequest,
    accepted: &AcceptedTokens,
) -> Result<AdminId, ApiError> {
    let presented = bearer_value(request).ok_or(ApiError::ServiceUnauthorized)?;
    accepted
        .matching(presented)
        .map(|digest| AdminId::of_digest(&digest))
        .ok_or(ApiError::ServiceUnauthorized)
}

/// `X-Alexa-User-Id`, when present and well formed.
pub fn alexa_user(request: &HttpRequest) -> Result<Option<AlexaUserId>, ApiError> {
    match request.headers().get(ALEXA_USER_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|raw| AlexaUserId::parse(raw).ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("X-Alexa-User-Id is malformed".to_owned())),
    }
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

    #[test]
    fn an_admin_token_is_known_by_its_id() {
        let accepted =
            AcceptedTokens::new(&[SecretString::from("adm-a"), SecretString::from("adm-b")]);
        let request = |token: &str| {
            actix_web::test::TestRequest::default()
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
                .to_http_request()
        };
        assert_eq!(
            require_admin(&request("adm-b"), &accepted).unwrap(),
            AdminId::of_token("adm-b")
        );
        assert_eq!(
            require_admin(&request("adm-a"), &accepted).unwrap(),
            AdminId::of_token("adm-a")
        );
        assert!(require_admin(&request("adm-c"), &accepted).is_err());
        let none = actix_web::test::TestRequest::default().to_http_request();
        assert!(require_admin(&none, &accepted).is_err());
    }
}
