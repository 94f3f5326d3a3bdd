//! Secrets stay secret: every flow (linking, both grants, proxied calls with a Spotify refresh that rotates
//! the refresh token, skill requests, SkillDisabled, operator revocation, every error), run with the most
//! verbose logs of every crate, leaves no token, code, client secret, service or admin token or key in the
//! logs, in any answer, in the audit trail or in the metrics, raw or encoded.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use e2e::oauth::oauth_error;
use e2e::{
    ALEXA_REDIRECT_URI, ALICE, BOB, Backend, LogCapture, TokenPair, pkce_pair, spawn_broker,
    spawn_sandbox,
};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use skill::test_support::TestSkill;
use spotify_sandbox::RefreshMode;

use crate::proxy_support::{Skill, admin};

/// A secret and the forms it could leak in: as is, percent-encoded, base64 and base64url.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![
        secret.to_owned(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    if encoded != secret {
        forms.push(encoded);
    }
    forms
}

/// Every place in `texts` where one of `secrets` shows, in any form.
fn leaks(secrets: &BTreeMap<&str, String>, texts: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, secret) in secrets {
        for form in forms(secret) {
            for (source, text) in texts {
                if let Some(line) = text.lines().find(|line| line.contains(form.as_str())) {
                    let line: String = line.chars().take(300).collect();
                    found.push(format!("{what} in {source}: {line}"));
                }
            }
        }
    }
    found
}

async fn every_flow_leaks_no_secret(backend: Backend) {
    let capture = LogCapture::start();
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("spotify.invalid_grant_confirm_ms", "100")],
    )
    .await;
    let client = broker.sandbox.client.clone();
    client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    // Answers that must carry no secret at all (the token endpoint's own answers carry the tokens they
    // issue, and Alexa's redirect its code: those are left out, and checked for Spotify's secrets only).
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut issuing: Vec<(String, String)> = Vec::new();

    // Link with PKCE, walking the browser leg by hand to learn the broker's state and Spotify's code.
    let (verifier, challenge) = pkce_pair();
    let mut params = broker.authorize_params("log-state");
    params.push(("code_challenge".to_owned(), challenge));
    params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    let started = broker.start_authorization(&params).await;
    let broker_state = started.state();
    let back =
        url::Url::parse(&broker.consent_at_spotify(&started.to_spotify, None).await).unwrap();
    let spotify_code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let done = broker
        .callback_in_browser(back.query().unwrap(), Some(&started.cookie))
        .await;
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    issuing.push(("alexa redirect".to_owned(), location.clone()));
    let code = e2e::AlexaRedirect::parse(&location).expect_code();

    let first = broker.exchange_code(&code, Some(&verifier)).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    for pair in [&first, &second] {
        issuing.push(("token answer".to_owned(), pair.body.to_string()));
    }
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::OK
    );
    let spotify_before = broker.open_link(&second.access_token).await.tokens.unwrap();

    // The skill, in this process, with its requests bound to an Alexa user.
    let skill_app = TestSkill::spawn(&broker.base_url, &broker.service_token)
        .await
        .unwrap();
    let alexa_user = "amzn1.ask.account.SECRETSTEST";
    for intent in ["WhatsPlayingIntent", "ListPlaylistsIntent"] {
        let request = skill_app
            .request()
            .linked(&second.access_token)
            .user(alexa_user)
            .intent(intent, &[]);
        let (status, body) = skill_app.send(&request).await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.push((format!("skill {intent}"), body.to_string()));
    }

    // Proxied calls, then a Spotify refresh that rotates the refresh token.
    let skill = Skill::new(&broker, &second.access_token);
    skill.get("/me/player").await.expect_ok(200);
    client.expire_access_tokens(ALICE).await.unwrap();
    skill.get("/me/player/devices").await.expect_ok(200);
    let spotify_after = broker.open_link(&second.access_token).await.tokens.unwrap();
    assert_ne!(
        spotify_after.refresh_token.expose_secret(),
        spotify_before.refresh_token.expose_secret(),
        "the refresh rotated spotify's refresh token"
    );

    // Every error the internal API has.
    let wrong_service = "svc-wrong-0123456789abcdef";
    let wrong_bearer = "bat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let wrong_admin = "adm-wrong-0123456789abcdef";
    skill
        .call(
            Method::GET,
            "/v1/link",
            &[("x-service-token", wrong_service)],
            None,
        )
        .await
        .expect_error(401, "service_unauthorized");
    Skill::new(&broker, wrong_bearer)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
    skill
        .get("/me/following")
        .await
        .expect_error(404, "not_found");
    skill
        .call(
            Method::GET,
            "/v1/spotify/me/player",
            &[("x-request-deadline-ms", "soon")],
            None,
        )
        .await
        .expect_error(400, "bad_request");
    client.fail_next(20, 503, None).await.unwrap();
    skill
        .get("/me/playlists")
        .await
        .expect_error(503, "upstream_unavailable");
    client.clear_faults().await.unwrap();
    client.rate_limit_next(1, 1).await.unwrap();
    skill
        .post("/me/player/next")
        .await
        .expect_error(429, "rate_limited");
    client.quota_exceeded_next(1, Some(1)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    skill
        .post("/me/player/previous")
        .await
        .expect_error(429, "quota_exceeded");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let refused_admin = admin(&broker, Method::GET, "/admin/links", wrong_admin).await;
    assert_eq!(refused_admin.status, 401);
    answers.push(("admin refused".to_owned(), refused_admin.transcript()));

    // The OAuth endpoints' failures: a wrong secret, a replayed code, an unknown refresh token.
    let wrong_secret = "not-the-secret-at-all";
    let wrong = broker
        .http
        .post(broker.url("/oauth/token"))
        .basic_auth(&broker.alexa_client_id, Some(wrong_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            second.refresh_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    answers.push((
        "wrong client secret".to_owned(),
        wrong.text().await.unwrap(),
    ));
    let replay = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .await;
    assert_eq!(oauth_error(replay).await.1, "invalid_grant");
    let unknown = broker.refresh(&format!("brt_{}", "B".repeat(43))).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    answers.push((
        "unknown refresh token".to_owned(),
        unknown.text().await.unwrap(),
    ));

    // The user disables the skill: the link is revoked through the skill.
    let disabled = skill_app
        .request()
        .linked(&second.access_token)
        .user(alexa_user)
        .event("AlexaSkillEvent.SkillDisabled");
    let (status, body) = skill_app.send(&disabled).await.unwrap();
    assert_eq!(status, 200, "{body}");
    skill.get("/me").await.expect_error(401, "relink_required");

    // Bob links and an operator revokes him; a client revokes a token.
    let bob = broker.link_user(BOB).await;
    issuing.push(("token answer".to_owned(), bob.body.to_string()));
    let spotify_bob = broker.open_link(&bob.access_token).await.tokens.unwrap();
    let bob_link = broker.link_id_of(BOB).await;
    for (method, path) in [
        (Method::GET, "/admin/links?limit=100".to_owned()),
        (Method::GET, format!("/admin/links/{bob_link}")),
        (Method::DELETE, format!("/admin/links/{bob_link}")),
        (Method::GET, "/admin/audit?limit=100".to_owned()),
        (Method::GET, "/admin/app".to_owned()),
    ] {
        let answer = admin(&broker, method, &path, &broker.admin_token).await;
        assert!(answer.status < 300, "{}", answer.transcript());
        answers.push((answer.what.clone(), answer.transcript()));
    }
    assert_eq!(
        broker.revoke_token(&first.refresh_token).await.status(),
        StatusCode::OK
    );
    // The metrics, once the broker has them (on the main listener: no admin listener here).
    let metrics = broker.get("/metrics").await;
    if metrics.status() == StatusCode::OK {
        answers.push(("GET /metrics".to_owned(), metrics.text().await.unwrap()));
    }
    answers.extend(
        skill
            .transcripts()
            .into_iter()
            .map(|text| ("internal api answer".to_owned(), text)),
    );

    let logs = capture.contents();
    assert!(
        logs.contains("spotify account linked") && logs.contains("broker tokens issued"),
        "the capture did not see the broker's logs"
    );
    assert!(
        logs.contains("refreshing spotify access token"),
        "the capture saw the spotify refresh"
    );
    assert!(
        logs.contains(r#""level":"TRACE""#),
        "the capture is not at the most verbose level"
    );
    let expose = |secret: &secrecy::SecretString| secret.expose_secret().to_owned();
    let spotify_secrets: BTreeMap<&str, String> = [
        ("spotify authorization code", spotify_code),
        ("spotify access token", expose(&spotify_before.access_token)),
        (
            "spotify refresh token",
            expose(&spotify_before.refresh_token),
        ),
        (
            "spotify access token after refresh",
            expose(&spotify_after.access_token),
        ),
        (
            "spotify refresh token after rotation",
            expose(&spotify_after.refresh_token),
        ),
        (
            "bob's spotify access token",
            expose(&spotify_bob.access_token),
        ),
        (
            "bob's spotify refresh token",
            expose(&spotify_bob.refresh_token),
        ),
        (
            "spotify client secret",
            broker.spotify_client_secret.clone(),
        ),
        ("alexa client secret", broker.alexa_client_secret.clone()),
        ("wrong client secret", wrong_secret.to_owned()),
        ("crypto key", broker.crypto_key.clone()),
        ("service token", broker.service_token.clone()),
        ("wrong service token", wrong_service.to_owned()),
        ("admin token", broker.admin_token.clone()),
        ("wrong admin token", wrong_admin.to_owned()),
        ("broker state toward spotify", broker_state),
        ("linking cookie", started.cookie_value()),
        ("alexa pkce verifier", verifier.clone()),
    ]
    .into_iter()
    .collect();
    let mut broker_secrets = spotify_secrets.clone();
    broker_secrets.extend([
        ("alexa authorization code", code.clone()),
        ("first broker access token", first.access_token.clone()),
        ("first broker refresh token", first.refresh_token.clone()),
        ("second broker access token", second.access_token.clone()),
        ("second broker refresh token", second.refresh_token.clone()),
        ("bob's broker access token", bob.access_token.clone()),
        ("bob's broker refresh token", bob.refresh_token.clone()),
        ("unknown broker access token", wrong_bearer.to_owned()),
    ]);
    let mut everywhere = answers;
    everywhere.push(("logs".to_owned(), logs));
    let mut found = leaks(&broker_secrets, &everywhere);
    found.extend(leaks(&spotify_secrets, &issuing));
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
}

/// A Spotify call that fails in transport (here a timeout) logs no URL: the search terms in its query stay
/// out of the logs (reqwest's error text carries the whole URL).
async fn failed_search_logs_no_search_terms(backend: Backend) {
    let capture = LogCapture::start();
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("spotify.timeout_ms", "200"), ("proxy.max_retries", "0")],
    )
    .await;
    let pair = broker.link_user(ALICE).await;
    broker.sandbox.client.set_latency(1500).await.unwrap();
    let term = "zanzibar-lullaby-quokka";
    let answer = broker
        .http
        .get(broker.url(&format!("/v1/spotify/search?q={term}&type=track")))
        .bearer_auth(&pair.access_token)
        .header("X-Service-Token", &broker.service_token)
        .send()
        .await
        .unwrap();
    assert!(
        !answer.status().is_success(),
        "the search should fail upstream, got {}",
        answer.status()
    );
    let started = std::time::Instant::now();
    while !capture.contents().contains("spotify unreachable") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the failed call was never logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let logs = capture.contents();
    let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(term)).collect();
    assert!(
        leaks.is_empty(),
        "the search term is in the logs:\n{}",
        leaks.join("\n")
    );
}

/// Every request gets exactly one access line: method, route template (never the path's query), status,
/// latency and the request id, each once.
#[tokio::test]
async fn one_access_line_per_request() {
    let capture = LogCapture::start();
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let marker = "qmarker-7c1e";
    let response = broker
        .http
        .get(broker.url(&format!("/v1/spotify/search?q={marker}&type=track")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let logs = capture.contents();
    let access: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| {
            line["target"] == "access" && line["span"]["request_id"] == request_id.as_str()
        })
        .collect();
    assert_eq!(access.len(), 1, "{logs}");
    let fields = &access[0]["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["status"], 401);
    assert!(fields["latency_us"].is_u64(), "{fields}");
    assert!(
        fields["route"]
            .as_str()
            .is_some_and(|r| r.starts_with("/v1")),
        "{fields}"
    );
    assert!(!logs.contains(marker), "the query never reaches a log line");
}

both_backends!(
    every_flow_leaks_no_secret,
    failed_search_logs_no_search_terms
);
