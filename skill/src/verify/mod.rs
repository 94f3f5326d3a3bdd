//! Proving that a request comes from Alexa for this skill, exactly as Amazon requires of skills hosted as web services.

pub mod cert_url;
pub mod certificate;
pub mod clock;
pub mod fetcher;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::configuration::SignatureChecks;
use crate::identifiers::SkillId;
use cert_url::{CertChainUrl, CertUrlError};
use certificate::{CertificateError, TrustStore};
use clock::{Clock, SystemClock};
use fetcher::{CachedCertFetcher, CertFetcher, FetchError, HttpCertFetcher};

/// Requests may be this far from the skill's clock, either way.
pub const TIMESTAMP_TOLERANCE: chrono::Duration = chrono::Duration::seconds(150);
/// Skill events (`AlexaSkillEvent.*`) are redelivered, so they may be this old.
pub const SKILL_EVENT_MAX_AGE: chrono::Duration = chrono::Duration::hours(1);

/// The replaceable parts of verification: which roots to trust, how to get chains, what time it is.
#[derive(Clone)]
pub struct VerifierParts {
    /// Roots Alexa's chain must lead to.
    pub trust_store: TrustStore,
    /// Where chains come from.
    pub fetcher: Arc<dyn CertFetcher>,
    /// The time source (also used for relink reminders).
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for VerifierParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierParts")
            .field("trust_store", &self.trust_store)
            .field("fetcher", &self.fetcher)
            .field("clock", &self.clock)
            .finish()
    }
}

impl VerifierParts {
    /// Production parts: web PKI roots, HTTPS downloads with `fetch_timeout` cached per URL for an
    /// hour (at most 16 URLs), the system clock.
    pub fn production(fetch_timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            trust_store: TrustStore::web_pki(),
            fetcher: Arc::new(CachedCertFetcher::new(
                HttpCertFetcher::new(fetch_timeout)?,
                16,
                Duration::from_secs(3600),
            )),
            clock: Arc::new(SystemClock),
        })
    }
}

/// Why a request was refused; every variant answers 400 with [`VerifyError::code`].
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No `SignatureCertChainUrl` header.
    #[error("missing SignatureCertChainUrl header")]
    MissingCertUrl,
    /// The certificate URL breaks a rule.
    #[error("invalid SignatureCertChainUrl: {0}")]
    BadCertUrl(#[from] CertUrlError),
    /// No `Signature-256` header.
    #[error("missing Signature-256 header")]
    MissingSignature,
    /// `Signature-256` is not base64.
    #[error("Signature-256 is not base64")]
    MalformedSignature,
    /// The chain could not be downloaded.
    #[error("certificate chain unavailable: {0}")]
    CertUnavailable(#[from] FetchError),
    /// The chain or the signature failed.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The body is not an Alexa request.
    #[error("malformed request body: {0}")]
    MalformedRequest(String),
    /// The timestamp is too far from now.
    #[error("request timestamp out of tolerance")]
    StaleTimestamp,
    /// The request is for another skill.
    #[error("request is for another application")]
    WrongApplication,
}

impl VerifyError {
    /// The stable code in the 400 body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCertUrl => "missing_cert_url",
            Self::BadCertUrl(_) => "invalid_cert_url",
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature => "invalid_signature",
            Self::CertUnavailable(_) => "cert_unavailable",
            Self::Certificate(CertificateError::Expired) => "certificate_expired",
            Self::Certificate(CertificateError::NotYetValid) => "certificate_not_yet_valid",
            Self::Certificate(CertificateError::WrongName) => "certificate_wrong_name",
            Self::Certificate(CertificateError::BadSignature) => "invalid_signature",
            Self::Certificate(
                CertificateError::Untrusted(_)
                | CertificateError::Empty
                | CertificateError::Unreadable(_),
            ) => "certificate_untrusted",
            Self::MalformedRequest(_) => "malformed_request",
            Self::StaleTimestamp => "stale_timestamp",
            Self::WrongApplication => "wrong_application",
        }
    }
}

/// The two signature headers, as received.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    /// `SignatureCertChainUrl`.
    pub cert_chain_url: Option<&'a str>,
    /// `Signature-256`.
    pub signature_256: Option<&'a str>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    session: Option<HeadSession>,
    context: HeadContext,
    request: HeadRequest,
}

#[derive(Deserialize)]
struct HeadSession {
    #[serde(default)]
    application: Option<HeadApplication>,
}

#[derive(Deserialize)]
struct HeadContext {
    #[serde(rename = "System")]
    system: HeadSystem,
}

#[derive(Deserialize)]
struct HeadSystem {
    application: HeadApplication,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeadApplication {
    application_id: String,
}

#[derive(Deserialize)]
struct HeadRequest {
    #[serde(rename = "type")]
    kind: String,
    #[serde(deserialize_with = "crate::alexa::request::deserialize_timestamp")]
    timestamp: DateTime<Utc>,
}

/// Checks requests against every rule in DESIGN.md.
#[derive(Debug, Clone)]
pub struct RequestVerifier {
    checks: SignatureChecks,
    skill_id: SkillId,
    parts: VerifierParts,
}

impl RequestVerifier {
    /// A verifier for `skill_id`.
    pub fn new(checks: SignatureChecks, skill_id: SkillId, parts: VerifierParts) -> Self {
        Self {
            checks,
            skill_id,
            parts,
        }
    }

    /// The clock verification uses.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.parts.clock.clone()
    }

    /// Verifies `body` (the exact bytes received) and its headers. Everything that needs no download
    /// (the URL's form, the headers, the application id, the timestamp) is checked before the
    /// certificate chain is fetched, so a request that fails them costs no download. With signature
    /// checks disabled (local development) only the application id is checked.
    pub async fn verify(
        &self,
        headers: SignatureHeaders<'_>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let enforced = self.checks == SignatureChecks::Enforced;
        let signed = if enforced {
            let url = headers.cert_chain_url.ok_or(VerifyError::MissingCertUrl)?;
            let url = CertChainUrl::parse(url)?;
            let signature = headers
                .signature_256
                .filter(|s| !s.trim().is_empty())
                .ok_or(VerifyError::MissingSignature)?;
            let signature = base64::engine::general_purpose::STANDARD
                .decode(signature.trim())
                .map_err(|_| VerifyError::MalformedSignature)?;
            Some((url, signature))
        } else {
            None
        };

        // JSON is UTF-8 (RFC 8259); serde skips unknown fields without checking their bytes, so a
        // body with invalid UTF-8 in a field nobody reads would otherwise pass (found by fuzzing).
        let body = std::str::from_utf8(body)
            .map_err(|_| VerifyError::MalformedRequest("the body is not utf-8".to_owned()))?;
        let head: Head =
            serde_json::from_str(body).map_err(|e| VerifyError::MalformedRequest(e.to_string()))?;

        let ours = |app: &HeadApplication| app.application_id == self.skill_id.as_str();
        let session_ok = head
            .session
            .as_ref()
            .and_then(|s| s.application.as_ref())
            .is_none_or(ours);
        if !ours(&head.context.system.application) || !session_ok {
            return Err(VerifyError::WrongApplication);
        }

        let Some((url, signature)) = signed else {
            return Ok(());
        };
        let now = self.parts.clock.now();
        let age = now - head.request.timestamp;
        let max_age = if head.request.kind.starts_with("AlexaSkillEvent.") {
            SKILL_EVENT_MAX_AGE
        } else {
            TIMESTAMP_TOLERANCE
        };
        if age > max_age || -age > TIMESTAMP_TOLERANCE {
            return Err(VerifyError::StaleTimestamp);
        }

        let chain = self.parts.fetcher.fetch(&url).await?;
        certificate::verify_signed_body(
            &chain,
            &self.parts.trust_store,
            now,
            body.as_bytes(),
            &signature,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
