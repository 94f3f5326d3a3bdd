//! The body Alexa posts to the skill: the checks the verifier makes before it downloads a certificate,
//! and the envelope the skill then acts on.
//!
//! Invariants: nothing panics; the verifier only goes on to fetch the certificate chain for a JSON body
//! naming this skill; every request the skill would act on (a known request type that parses as an
//! envelope for this skill, in date) gets past the verifier's own reading of the body.

#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use libfuzzer_sys::fuzz_target;
use skill::alexa::request::{Request, RequestEnvelope};
use skill::configuration::SignatureChecks;
use skill::identifiers::SkillId;
use skill::verify::cert_url::CertChainUrl;
use skill::verify::certificate::TrustStore;
use skill::verify::clock::FixedClock;
use skill::verify::fetcher::{CertChain, CertFetcher, FetchError};
use skill::verify::{
    RequestVerifier, SignatureHeaders, TIMESTAMP_TOLERANCE, VerifierParts, VerifyError,
};

const SKILL_ID: &str = "amzn1.ask.skill.00000000-0000-0000-0000-000000000000";
const CERT_URL: &str = "https://s3.amazonaws.com/echo.api/echo-api-cert.pem";

/// Counts how often the verifier got as far as the download, and never downloads.
#[derive(Debug, Default)]
struct RefusingFetcher(AtomicUsize);

impl CertFetcher for RefusingFetcher {
    fn fetch<'a>(&'a self, _url: &'a CertChainUrl) -> BoxFuture<'a, Result<CertChain, FetchError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(FetchError::Status(404)) })
    }
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T07:00:30Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

static FETCHER: LazyLock<Arc<RefusingFetcher>> = LazyLock::new(Arc::default);
static VERIFIER: LazyLock<Option<RequestVerifier>> = LazyLock::new(|| {
    let parts = VerifierParts {
        trust_store: TrustStore::web_pki(),
        fetcher: FETCHER.clone(),
        clock: Arc::new(FixedClock::new(now())),
    };
    Some(RequestVerifier::new(
        SignatureChecks::Enforced,
        SkillId::parse(SKILL_ID).ok()?,
        parts,
    ))
});

fuzz_target!(|body: &[u8]| {
    let Some(verifier) = VERIFIER.as_ref() else {
        return;
    };
    let headers = SignatureHeaders {
        cert_chain_url: Some(CERT_URL),
        signature_256: Some("c2lnbmF0dXJl"),
    };
    let before = FETCHER.0.load(Ordering::SeqCst);
    let verdict = futures::executor::block_on(verifier.verify(headers, body));
    let fetched = FETCHER.0.load(Ordering::SeqCst) > before;

    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let app_id = |v: &serde_json::Value| {
        v.pointer("/context/System/application/applicationId")
            .and_then(|id| id.as_str())
            .map(str::to_owned)
    };
    if fetched {
        assert!(
            matches!(verdict, Err(VerifyError::CertUnavailable(_))),
            "the fetch failed, so must the verification"
        );
        let json = json.as_ref().expect("fetched for a body that is not JSON");
        assert_eq!(app_id(json).as_deref(), Some(SKILL_ID), "fetched for another skill");
    }

    // JSON is UTF-8: a body that is not is no envelope, whatever a lenient parser makes of it.
    let Some(envelope) = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<RequestEnvelope>(text).ok())
    else {
        return;
    };
    // The accessors the conversation uses on every request.
    let _ = envelope.user();
    let _ = envelope.session_attributes();
    let _ = skill::i18n::Locale::from_tag(envelope.locale());
    let timestamp = match &envelope.request {
        Request::LaunchRequest(r) => Some(r.common.timestamp),
        Request::IntentRequest(r) => {
            for name in r.intent.slots.keys() {
                let _ = r.intent.slot_value(name);
                let _ = r.intent.resolved_values(name);
            }
            Some(r.common.timestamp)
        }
        Request::SessionEndedRequest(r) => Some(r.common.timestamp),
        Request::ExceptionEncountered(r) => Some(r.common.timestamp),
        Request::SkillDisabled(e) | Request::SkillAccountLinked(e) | Request::SkillEnabled(e) => {
            Some(e.common.timestamp)
        }
        Request::Other => None,
    };
    let ours = envelope.context.system.application.application_id == SKILL_ID
        && envelope
            .session
            .as_ref()
            .and_then(|s| s.application.as_ref())
            .is_none_or(|a| a.application_id == SKILL_ID);
    let in_date = timestamp.is_some_and(|t| (now() - t).abs() <= TIMESTAMP_TOLERANCE);
    if ours && in_date {
        assert!(
            fetched,
            "an envelope the skill would act on was refused before the signature check: {verdict:?}"
        );
    }
});
