//! Checking Alexa's signing certificate chain and the request signature, with rustls-webpki.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

/// The name Alexa's signing certificate must carry.
pub const ALEXA_SIGNING_NAME: &str = "echo-api.amazon.com";

/// Algorithms accepted for the signatures inside the certificate chain.
static CHAIN_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_3072_8192_SHA384,
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
];

/// Why a certificate chain or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The downloaded file held no certificate.
    #[error("no certificate in the chain")]
    Empty,
    /// The PEM or DER could not be read.
    #[error("unreadable certificate chain: {0}")]
    Unreadable(String),
    /// The leaf is past its `notAfter`.
    #[error("certificate expired")]
    Expired,
    /// The leaf is before its `notBefore`.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// The chain does not end at a trusted root (or is otherwise invalid).
    #[error("certificate chain not trusted: {0}")]
    Untrusted(String),
    /// The leaf does not name `echo-api.amazon.com`.
    #[error("certificate not issued to echo-api.amazon.com")]
    WrongName,
    /// `Signature-256` does not verify over the body.
    #[error("signature does not match the body")]
    BadSignature,
}

/// The roots Alexa's certificate chain must lead to.
#[derive(Clone)]
pub struct TrustStore {
    anchors: Arc<Vec<TrustAnchor<'static>>>,
    description: &'static str,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TrustStore({}, {} roots)",
            self.description,
            self.anchors.len()
        )
    }
}

impl TrustStore {
    /// The public web PKI roots (Mozilla's list), which Amazon's signing chain leads to.
    pub fn web_pki() -> Self {
        Self {
            anchors: Arc::new(webpki_roots::TLS_SERVER_ROOTS.to_vec()),
            description: "web PKI roots",
        }
    }

    /// Exactly the given root certificates (for tests and private setups).
    pub fn from_roots(roots: &[CertificateDer<'_>]) -> Result<Self, CertificateError> {
        let anchors = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .map(|a| a.to_owned())
                    .map_err(|e| CertificateError::Unreadable(format!("{e:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            anchors: Arc::new(anchors),
            description: "custom roots",
        })
    }

    /// Root certificates from PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        Self::from_roots(&parse_chain(pem)?)
    }
}

/// Reads every certificate of a PEM file (leaf first, as Amazon serves them).
pub fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertificateError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::Unreadable(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertificateError::Empty);
    }
    Ok(chain)
}

/// Verifies that `chain` is in date at `now`, leads to `trust`, names `echo-api.amazon.com`,
/// and that its leaf signed `body` with RSA SHA-256 giving `signature`.
pub fn verify_signed_body(
    chain: &[CertificateDer<'static>],
    trust: &TrustStore,
    now: DateTime<Utc>,
    body: &[u8],
    signature: &[u8],
) -> Result<(), CertificateError> {
    let (leaf, intermediates) = chain.split_first().ok_or(CertificateError::Empty)?;
    let leaf = EndEntityCert::try_from(leaf)
        .map_err(|e| CertificateError::Unreadable(format!("{e:?}")))?;
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds));
    leaf.verify_for_usage(
        CHAIN_ALGORITHMS,
        &trust.anchors,
        intermediates,
        time,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => CertificateError::Expired,
        webpki::Error::CertNotValidYet { .. } => CertificateError::NotYetValid,
        other => CertificateError::Untrusted(format!("{other:?}")),
    })?;
    let name = DnsName::try_from(ALEXA_SIGNING_NAME)
        .map_err(|_| CertificateError::WrongName)?
        .to_owned();
    leaf.verify_is_valid_for_subject_name(&ServerName::DnsName(name))
        .map_err(|_| CertificateError::WrongName)?;
    leaf.verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, body, signature)
        .map_err(|_| CertificateError::BadSignature)
}
