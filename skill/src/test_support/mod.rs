//! Test helpers for this crate's and other crates' tests: a test Alexa CA, a request signer, and request builders.
//!
//! Enabled by the `test-support` feature; never part of a production build.

mod requests;
mod spawn;

pub use requests::AlexaRequest;
pub use spawn::{TEST_SKILL_ID, TestSkill, TestSkillOptions};

use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine;
use chrono::{DateTime, Datelike, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use crate::verify::VerifierParts;
use crate::verify::certificate::{ALEXA_SIGNING_NAME, TrustStore};
use crate::verify::clock::Clock;
use crate::verify::fetcher::StaticCertFetcher;

/// A 2048-bit RSA key for test certificates only (ring cannot generate RSA keys, so it is a fixture).
const TEST_SIGNING_KEY_PEM: &str = include_str!("test-signing-key.pem");

/// The certificate URL the test chain is served at.
pub const TEST_CERT_URL: &str = "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem";

/// How the test signing certificate is made.
#[derive(Debug, Clone)]
pub struct TestAlexaOptions {
    /// Leaf `notBefore` (day precision).
    pub not_before: DateTime<Utc>,
    /// Leaf `notAfter` (day precision).
    pub not_after: DateTime<Utc>,
    /// The DNS name in the leaf's SAN.
    pub dns_name: String,
    /// Where the chain is served.
    pub cert_url: String,
}

impl TestAlexaOptions {
    /// A leaf valid from 30 days before `now` to a year after, named `echo-api.amazon.com`.
    pub fn valid_at(now: DateTime<Utc>) -> Self {
        Self {
            not_before: now - Duration::days(30),
            not_after: now + Duration::days(365),
            dns_name: ALEXA_SIGNING_NAME.into(),
            cert_url: TEST_CERT_URL.into(),
        }
    }
}

/// A stand-in for Alexa: its own root CA, an intermediate, and an RSA signing certificate, plus the
/// matching verifier parts so the skill trusts it.
pub struct TestAlexa {
    cert_url: String,
    root: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    signing_key: ring::signature::RsaKeyPair,
}

impl std::fmt::Debug for TestAlexa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAlexa")
            .field("cert_url", &self.cert_url)
            .finish_non_exhaustive()
    }
}

/// Sets `notBefore`/`notAfter` to the days of `from` and `to` (rcgen takes `time` dates; this avoids a direct `time` dependency).
fn set_validity(params: &mut CertificateParams, from: DateTime<Utc>, to: DateTime<Utc>) {
    let ymd = |t: DateTime<Utc>| {
        rcgen::date_time_ymd(
            t.year(),
            u8::try_from(t.month()).unwrap_or(1),
            u8::try_from(t.day()).unwrap_or(1),
        )
    };
    params.not_before = ymd(from);
    params.not_after = ymd(to);
}

fn ca_params(name: &str, is_ca: IsCa, now: DateTime<Utc>) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = is_ca;
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(
        &mut params,
        now - Duration::days(3650),
        now + Duration::days(3650),
    );
    Ok(params)
}

impl TestAlexa {
    /// A test Alexa whose certificate is valid around the real current time.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_options(TestAlexaOptions::valid_at(Utc::now()))
    }

    /// A test Alexa with a custom signing certificate.
    pub fn with_options(options: TestAlexaOptions) -> anyhow::Result<Self> {
        let around = options.not_before;
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let root = ca_params(
            "Test Alexa Root CA",
            IsCa::Ca(BasicConstraints::Unconstrained),
            around,
        )?
        .self_signed(&root_key)?;

        let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let intermediate = ca_params(
            "Test Alexa Intermediate CA",
            IsCa::Ca(BasicConstraints::Constrained(0)),
            around,
        )?
        .signed_by(&intermediate_key, &root, &root_key)?;

        let leaf_key =
            KeyPair::from_pkcs8_pem_and_sign_algo(TEST_SIGNING_KEY_PEM, &rcgen::PKCS_RSA_SHA256)?;
        let mut leaf = CertificateParams::new(vec![options.dns_name.clone()])?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, options.dns_name.as_str());
        leaf.distinguished_name = dn;
        set_validity(&mut leaf, options.not_before, options.not_after);
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let leaf = leaf.signed_by(&leaf_key, &intermediate, &intermediate_key)?;

        let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(TEST_SIGNING_KEY_PEM.as_bytes())
            .context("reading the test signing key")?;
        let signing_key = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der())
            .map_err(|e| anyhow::anyhow!("loading the test signing key: {e}"))?;

        Ok(Self {
            cert_url: options.cert_url,
            root: root.der().clone(),
            chain: vec![leaf.der().clone(), intermediate.der().clone()],
            signing_key,
        })
    }

    /// Where the chain is served (`SignatureCertChainUrl`).
    pub fn cert_url(&self) -> &str {
        &self.cert_url
    }

    /// The root certificate to trust.
    pub fn root(&self) -> CertificateDer<'static> {
        self.root.clone()
    }

    /// The chain Alexa would serve: leaf, then intermediate.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    /// A trust store holding only this test root.
    pub fn trust_store(&self) -> anyhow::Result<TrustStore> {
        Ok(TrustStore::from_roots(&[self.root()])?)
    }

    /// A fetcher serving this chain at [`TestAlexa::cert_url`] (the URL must pass the URL rules).
    pub fn fetcher(&self) -> anyhow::Result<StaticCertFetcher> {
        Ok(StaticCertFetcher::new().with_chain(&self.cert_url, self.chain())?)
    }

    /// Verifier parts that trust this test Alexa, with the given clock.
    pub fn verifier_parts(&self, clock: Arc<dyn Clock>) -> anyhow::Result<VerifierParts> {
        Ok(VerifierParts {
            trust_store: self.trust_store()?,
            fetcher: Arc::new(self.fetcher()?),
            clock,
        })
    }

    /// The headers Alexa would send with `body` (RSA SHA-256 over exactly these bytes).
    pub fn sign(&self, body: &[u8]) -> anyhow::Result<SignedHeaders> {
        let mut signature = vec![0u8; self.signing_key.public().modulus_len()];
        self.signing_key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                body,
                &mut signature,
            )
            .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
        Ok(SignedHeaders {
            cert_chain_url: self.cert_url.clone(),
            signature_256: base64::engine::general_purpose::STANDARD.encode(signature),
        })
    }
}

/// `SignatureCertChainUrl` and `Signature-256` for one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `SignatureCertChainUrl`.
    pub cert_chain_url: String,
    /// `Signature-256`.
    pub signature_256: String,
}

impl SignedHeaders {
    /// As header name/value pairs.
    pub fn pairs(&self) -> [(&'static str, String); 2] {
        [
            ("SignatureCertChainUrl", self.cert_chain_url.clone()),
            ("Signature-256", self.signature_256.clone()),
        ]
    }
}
