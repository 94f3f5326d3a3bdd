//! The HTTP surface: health, refusal of unverified requests, answers to verified ones.

use skill::test_support::{TestSkill, TestSkillOptions};

use crate::fake_broker::{FakeBroker, SERVICE_TOKEN};

#[tokio::test]
async fn healthz_answers_ok() {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    let response = reqwest::get(format!("http://{}/healthz", skill.address))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unsigned_and_tampered_requests_get_400_with_a_code() {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    let body = serde_json::to_vec(&skill.request().launch()).unwrap();

    let (status, json) = skill.send_raw(body.clone(), &[]).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "missing_cert_url");

    let headers = skill.alexa.sign(&body).unwrap();
    let mut tampered = body.clone();
    tampered.push(b'\n');
    let (status, json) = skill.send_raw(tampered, &headers.pairs()).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "invalid_signature");

    let mut bad_url = headers.pairs();
    bad_url[0].1 = "http://s3.amazonaws.com/echo.api/echo-api-cert-test.pem".into();
    let (status, json) = skill.send_raw(body.clone(), &bad_url).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "invalid_cert_url");

    let (status, _) = skill.send_raw(body, &headers.pairs()).await.unwrap();
    assert_eq!(status, 200);
    assert!(broker.calls().iter().all(|c| c.path == "/v1/link"));
}

#[tokio::test]
async fn stale_requests_and_other_skills_are_refused_over_http() {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    skill.clock.advance(chrono::Duration::seconds(151));
    let (status, json) = skill
        .send(&skill_request_at_real_now(&skill))
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "stale_timestamp");

    let other = skill::test_support::AlexaRequest::new("amzn1.ask.skill.other")
        .at(chrono::Utc::now() + chrono::Duration::seconds(151))
        .launch();
    let (status, json) = skill.send(&other).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "wrong_application");
}

fn skill_request_at_real_now(skill: &TestSkill) -> serde_json::Value {
    skill.request().at(chrono::Utc::now()).launch()
}

#[tokio::test]
async fn development_mode_accepts_unsigned_requests() {
    let broker = FakeBroker::spawn().await;
    let mut options = TestSkillOptions::new(&broker.url, SERVICE_TOKEN);
    options
        .extra_env
        .push(("SKILL__ALEXA__VERIFY_SIGNATURES".into(), "false".into()));
    let skill = TestSkill::spawn_with(options).await.unwrap();
    let body = serde_json::to_vec(
        &skill
            .request()
            .linked(crate::fake_broker::USER_TOKEN)
            .intent("AMAZON.HelpIntent", &[]),
    )
    .unwrap();
    let (status, json) = skill.send_raw(body, &[]).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(json["response"]["shouldEndSession"], false);
}

#[tokio::test]
async fn malformed_but_signed_bodies_get_400() {
    let broker = FakeBroker::spawn().await;
    let skill = TestSkill::spawn(&broker.url, SERVICE_TOKEN).await.unwrap();
    let mut request = skill.request().intent("AMAZON.HelpIntent", &[]);
    request["request"].as_object_mut().unwrap().remove("intent");
    let (status, json) = skill.send(&request).await.unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["code"], "malformed_request");
}
