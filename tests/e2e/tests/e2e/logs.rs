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
    let to_spotify = broker.start_authorization(&params).await;
    let param = |url: &url::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let broker_state = param(&to_spotify, "state");
    let consent = broker.http.get(to_spotify.clone()).send().await.unwrap();
    let back = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    let spotify_code = param(&back, "code");
    let done = broker.http.get(back).send().await.unwrap();
    let code =
        e2e::AlexaRedirect::parse(done.headers()["location"].to_str().unwrap()).expect_code();

    let first = broker.exchange_code(&code, Some(&verifier)).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::OK
    );
    let link_id = broker.link_id_of(ALICE).await;
    let spotify = broker
        .store
        .link(&link_id)
        .await
        .unwrap()
        .unwrap()
        .tokens
        .unwrap();
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

both_backends!(captured_logs_hold_no_secret);
