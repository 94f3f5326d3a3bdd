//! The logs of a full flow, captured at TRACE from every crate in the process, hold no token or secret.

use e2e::oauth::oauth_error;
use e2e::{
    ALEXA_REDIRECT_URI, ALICE, Backend, LogCapture, TokenPair, pkce_pair, spawn_broker,
    spawn_sandbox,
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

async fn captured_logs_hold_no_secret(backend: Backend) {
    let capture = LogCapture::start();
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;

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
    let code =
        e2e::AlexaRedirect::parse(done.headers()["location"].to_str().unwrap()).expect_code();

    let first = broker.exchange_code(&code, Some(&verifier)).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::OK
    );
    let spotify = broker.open_link(&second.access_token).await.tokens.unwrap();
    // Failures log too: a wrong secret, a replayed code, a revocation.
    let wrong = broker
        .http
        .post(broker.url("/oauth/token"))
        .basic_auth(&broker.alexa_client_id, Some("not-the-secret-at-all"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            second.refresh_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let replay = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .await;
    assert_eq!(oauth_error(replay).await.1, "invalid_grant");
    assert_eq!(
        broker.revoke_token(&second.refresh_token).await.status(),
        StatusCode::OK
    );

    let logs = capture.contents();
    assert!(
        logs.contains("spotify account linked") && logs.contains("broker tokens issued"),
        "the capture did not see the broker's logs"
    );
    assert!(
        logs.contains(r#""level":"TRACE""#),
        "the capture is not at the most verbose level"
    );
    let secrets = [
        ("alexa authorization code", code.clone()),
        ("alexa pkce verifier", verifier.clone()),
        ("broker state toward spotify", broker_state),
        ("linking cookie", started.cookie_value()),
        ("spotify authorization code", spotify_code),
        ("first broker access token", first.access_token.clone()),
        ("first broker refresh token", first.refresh_token.clone()),
        ("second broker access token", second.access_token.clone()),
        ("second broker refresh token", second.refresh_token.clone()),
        (
            "spotify access token",
            spotify.access_token.expose_secret().to_owned(),
        ),
        (
            "spotify refresh token",
            spotify.refresh_token.expose_secret().to_owned(),
        ),
        ("alexa client secret", broker.alexa_client_secret.clone()),
        ("wrong client secret", "not-the-secret-at-all".to_owned()),
        (
            "spotify client secret",
            broker.spotify_client_secret.clone(),
        ),
        ("crypto key", broker.crypto_key.clone()),
        ("service token", broker.service_token.clone()),
        ("admin token", broker.admin_token.clone()),
    ];
    let mut leaks = Vec::new();
    for (what, secret) in &secrets {
        if let Some(line) = logs.lines().find(|line| line.contains(secret.as_str())) {
            leaks.push(format!("{what}: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
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
    captured_logs_hold_no_secret,
    failed_search_logs_no_search_terms
);
