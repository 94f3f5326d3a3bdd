//! Every verification rule, with requests signed by a test CA made here.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::test_support::{AlexaRequest, SignedHeaders, TestAlexa, TestAlexaOptions};
use crate::verify::clock::FixedClock;
use crate::verify::fetcher::StaticCertFetcher;

const SKILL: &str = "amzn1.ask.skill.test-skill";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 6, 15, 12, 0, 0).unwrap()
}

struct Fixture {
    alexa: TestAlexa,
    verifier: RequestVerifier,
}

fn fixture_with(options: TestAlexaOptions) -> Fixture {
    let alexa = TestAlexa::with_options(options).unwrap();
    let parts = alexa
        .verifier_parts(Arc::new(FixedClock::new(now())))
        .unwrap();
    let verifier = RequestVerifier::new(
        SignatureChecks::Enforced,
        SkillId::parse(SKILL).unwrap(),
        parts,
    );
    Fixture { alexa, verifier }
}

fn fixture() -> Fixture {
    fixture_with(TestAlexaOptions::valid_at(now()))
}

fn launch_at(at: DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&AlexaRequest::new(SKILL).at(at).launch()).unwrap()
}

fn event_at(kind: &str, at: DateTime<Utc>) -> Vec<u8> {
    serde_json::to_vec(&AlexaRequest::new(SKILL).linked("bat_x").at(at).event(kind)).unwrap()
}

async fn check(
    verifier: &RequestVerifier,
    headers: &SignedHeaders,
    body: &[u8],
) -> Result<(), VerifyError> {
    verifier
        .verify(
            SignatureHeaders {
                cert_chain_url: Some(&headers.cert_chain_url),
                signature_256: Some(&headers.signature_256),
            },
            body,
        )
        .await
}

async fn signed(f: &Fixture, body: &[u8]) -> Result<(), VerifyError> {
    let headers = f.alexa.sign(body).unwrap();
    check(&f.verifier, &headers, body).await
}

fn code(result: Result<(), VerifyError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) => e.code(),
    }
}

#[tokio::test]
async fn a_correctly_signed_request_passes() {
    let f = fixture();
    assert_eq!(code(signed(&f, &launch_at(now())).await), "ok");
}

#[tokio::test]
async fn every_bad_certificate_url_form_is_refused() {
    let f = fixture();
    let body = launch_at(now());
    let good = f.alexa.sign(&body).unwrap();
    for url in [
        "http://s3.amazonaws.com/echo.api/echo-api-cert-test.pem",
        "https://evil.example.com/echo.api/echo-api-cert-test.pem",
        "https://s3.amazonaws.com:8443/echo.api/echo-api-cert-test.pem",
        "https://s3.amazonaws.com/other/echo-api-cert-test.pem",
        "https://s3.amazonaws.com/EcHo.aPi/echo-api-cert-test.pem",
        "https://s3.amazonaws.com/echo.api/../x",
        "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem?v=2",
        "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem#x",
    ] {
        let headers = SignedHeaders {
            cert_chain_url: url.into(),
            ..good.clone()
        };
        assert_eq!(
            code(check(&f.verifier, &headers, &body).await),
            "invalid_cert_url",
            "{url}"
        );
    }
}

#[tokio::test]
async fn equivalent_url_forms_are_accepted() {
    let f = fixture();
    let body = launch_at(now());
    let good = f.alexa.sign(&body).unwrap();
    for url in [
        "https://S3.AMAZONAWS.COM:443/echo.api/echo-api-cert-test.pem",
        "https://s3.amazonaws.com/echo.api/../echo.api/echo-api-cert-test.pem",
    ] {
        let headers = SignedHeaders {
            cert_chain_url: url.into(),
            ..good.clone()
        };
        assert_eq!(
            code(check(&f.verifier, &headers, &body).await),
            "ok",
            "{url}"
        );
    }
}

#[tokio::test]
async fn missing_headers_are_refused() {
    let f = fixture();
    let body = launch_at(now());
    let good = f.alexa.sign(&body).unwrap();
    let no_url = f
        .verifier
        .verify(
            SignatureHeaders {
                cert_chain_url: None,
                signature_256: Some(&good.signature_256),
            },
            &body,
        )
        .await;
    assert_eq!(code(no_url), "missing_cert_url");
    for signature in [None, Some(""), Some("   ")] {
        let result = f
            .verifier
            .verify(
                SignatureHeaders {
                    cert_chain_url: Some(&good.cert_chain_url),
                    signature_256: signature,
                },
                &body,
            )
            .await;
        assert_eq!(code(result), "missing_signature");
    }
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    let f = fixture();
    let body = launch_at(now());
    let good = f.alexa.sign(&body).unwrap();
    let garbage = SignedHeaders {
        signature_256: "not base64!!".into(),
        ..good.clone()
    };
    assert_eq!(
        code(check(&f.verifier, &garbage, &body).await),
        "invalid_signature"
    );
    let other = f.alexa.sign(b"some other body").unwrap();
    assert_eq!(
        code(check(&f.verifier, &other, &body).await),
        "invalid_signature"
    );
    let short = SignedHeaders {
        signature_256: "AAAA".into(),
        ..good
    };
    assert_eq!(
        code(check(&f.verifier, &short, &body).await),
        "invalid_signature"
    );
}

#[tokio::test]
async fn a_body_changed_after_signing_is_refused() {
    let f = fixture();
    let body = launch_at(now());
    let headers = f.alexa.sign(&body).unwrap();
    let mut changed = body.clone();
    changed.extend_from_slice(b" ");
    assert_eq!(
        code(check(&f.verifier, &headers, &changed).await),
        "invalid_signature"
    );
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("TESTUSER", "OTHERUSER");
    assert_eq!(
        code(check(&f.verifier, &headers, tampered.as_bytes()).await),
        "invalid_signature"
    );
}

/// Found by fuzzing (fuzz/ alexa_envelope): serde skips a field nobody reads without checking its bytes,
/// so a correctly signed body with invalid UTF-8 in such a field was accepted as JSON.
#[tokio::test]
async fn a_signed_body_that_is_not_utf8_is_malformed() {
    let f = fixture();
    let mut value = AlexaRequest::new(SKILL).at(now()).launch();
    value["context"]["System"]["apiEndpoint"] = "https://api.amazonalexa.c@@@om".into();
    let text = serde_json::to_string(&value).unwrap();
    let at = text.find("@@@").unwrap();
    let mut body = text.into_bytes();
    body[at..at + 3].fill(0xff);
    assert!(std::str::from_utf8(&body).is_err());
    let headers = f.alexa.sign(&body).unwrap();
    assert_eq!(
        code(check(&f.verifier, &headers, &body).await),
        "malformed_request"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_refused() {
    let expired = fixture_with(TestAlexaOptions {
        not_before: now() - Duration::days(400),
        not_after: now() - Duration::days(2),
        ..TestAlexaOptions::valid_at(now())
    });
    assert_eq!(
        code(signed(&expired, &launch_at(now())).await),
        "certificate_expired"
    );
    let future = fixture_with(TestAlexaOptions {
        not_before: now() + Duration::days(2),
        not_after: now() + Duration::days(400),
        ..TestAlexaOptions::valid_at(now())
    });
    assert_eq!(
        code(signed(&future, &launch_at(now())).await),
        "certificate_not_yet_valid"
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let f = fixture_with(TestAlexaOptions {
        dns_name: "echo-api.amazon.com.evil.example".into(),
        ..TestAlexaOptions::valid_at(now())
    });
    assert_eq!(
        code(signed(&f, &launch_at(now())).await),
        "certificate_wrong_name"
    );
}

#[tokio::test]
async fn a_chain_to_an_untrusted_root_is_refused() {
    let impostor = TestAlexa::with_options(TestAlexaOptions::valid_at(now())).unwrap();
    let trusted = TestAlexa::with_options(TestAlexaOptions::valid_at(now())).unwrap();
    let verifier = RequestVerifier::new(
        SignatureChecks::Enforced,
        SkillId::parse(SKILL).unwrap(),
        VerifierParts {
            trust_store: trusted.trust_store().unwrap(),
            fetcher: Arc::new(impostor.fetcher().unwrap()),
            clock: Arc::new(FixedClock::new(now())),
        },
    );
    let body = launch_at(now());
    let headers = impostor.sign(&body).unwrap();
    assert_eq!(
        code(check(&verifier, &headers, &body).await),
        "certificate_untrusted"
    );

    // The real web PKI roots do not trust the test CA either.
    let verifier = RequestVerifier::new(
        SignatureChecks::Enforced,
        SkillId::parse(SKILL).unwrap(),
        VerifierParts {
            trust_store: TrustStore::web_pki(),
            fetcher: Arc::new(impostor.fetcher().unwrap()),
            clock: Arc::new(FixedClock::new(now())),
        },
    );
    assert_eq!(
        code(check(&verifier, &headers, &body).await),
        "certificate_untrusted"
    );
}

#[tokio::test]
async fn an_unavailable_chain_is_refused() {
    let f = fixture();
    let body = launch_at(now());
    let headers = SignedHeaders {
        cert_chain_url: "https://s3.amazonaws.com/echo.api/not-served.pem".into(),
        ..f.alexa.sign(&body).unwrap()
    };
    assert_eq!(
        code(check(&f.verifier, &headers, &body).await),
        "cert_unavailable"
    );
}

#[tokio::test]
async fn timestamps_must_be_within_150_seconds_either_way() {
    let f = fixture();
    for (offset, expected) in [
        (-150, "ok"),
        (150, "ok"),
        (-151, "stale_timestamp"),
        (151, "stale_timestamp"),
    ] {
        let body = launch_at(now() + Duration::seconds(offset));
        assert_eq!(code(signed(&f, &body).await), expected, "offset {offset}");
    }
}

#[tokio::test]
async fn skill_events_may_be_up_to_an_hour_old() {
    let f = fixture();
    for kind in [
        "AlexaSkillEvent.SkillDisabled",
        "AlexaSkillEvent.SkillAccountLinked",
    ] {
        for (offset, expected) in [
            (-151, "ok"),
            (-59 * 60, "ok"),
            (-3600, "ok"),
            (-3601, "stale_timestamp"),
            (151, "stale_timestamp"),
        ] {
            let body = event_at(kind, now() + Duration::seconds(offset));
            assert_eq!(
                code(signed(&f, &body).await),
                expected,
                "{kind} at {offset}"
            );
        }
    }
    // Only skill events get the hour: an intent an hour old is refused.
    let old_intent = serde_json::to_vec(
        &AlexaRequest::new(SKILL)
            .at(now() - Duration::seconds(1800))
            .intent("AMAZON.HelpIntent", &[]),
    )
    .unwrap();
    assert_eq!(code(signed(&f, &old_intent).await), "stale_timestamp");
}

#[tokio::test]
async fn requests_for_another_skill_are_refused() {
    let f = fixture();
    let body = serde_json::to_vec(
        &AlexaRequest::new("amzn1.ask.skill.someone-else")
            .at(now())
            .launch(),
    )
    .unwrap();
    assert_eq!(code(signed(&f, &body).await), "wrong_application");

    // A session naming another skill is refused even when the context matches.
    let mut mixed = AlexaRequest::new(SKILL).at(now()).launch();
    mixed["session"]["application"]["applicationId"] = "amzn1.ask.skill.someone-else".into();
    let body = serde_json::to_vec(&mixed).unwrap();
    assert_eq!(code(signed(&f, &body).await), "wrong_application");
}

#[tokio::test]
async fn a_signed_body_that_is_not_an_alexa_request_is_refused() {
    let f = fixture();
    assert_eq!(
        code(signed(&f, b"{\"hello\": 1}").await),
        "malformed_request"
    );
}

#[tokio::test]
async fn development_mode_skips_signatures_but_not_the_application_id() {
    let alexa = TestAlexa::with_options(TestAlexaOptions::valid_at(now())).unwrap();
    let verifier = RequestVerifier::new(
        SignatureChecks::DisabledForDevelopment,
        SkillId::parse(SKILL).unwrap(),
        alexa
            .verifier_parts(Arc::new(FixedClock::new(now())))
            .unwrap(),
    );
    let body = launch_at(now() - Duration::days(3));
    assert_eq!(
        code(verifier.verify(SignatureHeaders::default(), &body).await),
        "ok"
    );
    let other = serde_json::to_vec(&AlexaRequest::new("amzn1.ask.skill.other").launch()).unwrap();
    assert_eq!(
        code(verifier.verify(SignatureHeaders::default(), &other).await),
        "wrong_application"
    );
}

/// A verifier whose certificate fetches are counted.
fn counting_fixture() -> (Fixture, Arc<StaticCertFetcher>) {
    let alexa = TestAlexa::with_options(TestAlexaOptions::valid_at(now())).unwrap();
    let fetcher = Arc::new(alexa.fetcher().unwrap());
    let verifier = RequestVerifier::new(
        SignatureChecks::Enforced,
        SkillId::parse(SKILL).unwrap(),
        VerifierParts {
            trust_store: alexa.trust_store().unwrap(),
            fetcher: fetcher.clone(),
            clock: Arc::new(FixedClock::new(now())),
        },
    );
    (Fixture { alexa, verifier }, fetcher)
}

#[tokio::test]
async fn nothing_is_downloaded_for_a_bad_url_a_wrong_application_or_a_stale_timestamp() {
    let (f, fetcher) = counting_fixture();
    let body = launch_at(now());
    let good = f.alexa.sign(&body).unwrap();
    for url in [
        "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem?",
        "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem?a=b",
        "https://s3.amazonaws.com/echo.api/echo-api-cert-test.pem#",
    ] {
        let headers = SignedHeaders {
            cert_chain_url: url.into(),
            ..good.clone()
        };
        assert_eq!(
            code(check(&f.verifier, &headers, &body).await),
            "invalid_cert_url",
            "{url}"
        );
    }
    assert_eq!(fetcher.fetches(), 0, "a refused URL was downloaded");

    let other_skill = serde_json::to_vec(
        &AlexaRequest::new("amzn1.ask.skill.someone-else")
            .at(now())
            .launch(),
    )
    .unwrap();
    assert_eq!(code(signed(&f, &other_skill).await), "wrong_application");
    assert_eq!(
        fetcher.fetches(),
        0,
        "downloaded for another skill's request"
    );

    let stale = launch_at(now() - Duration::seconds(600));
    assert_eq!(code(signed(&f, &stale).await), "stale_timestamp");
    let stale_event = event_at("AlexaSkillEvent.SkillDisabled", now() - Duration::hours(2));
    assert_eq!(code(signed(&f, &stale_event).await), "stale_timestamp");
    assert_eq!(fetcher.fetches(), 0, "downloaded for a stale request");

    // The same verifier downloads for a request that passes those checks.
    assert_eq!(code(signed(&f, &body).await), "ok");
    assert_eq!(fetcher.fetches(), 1);
}
