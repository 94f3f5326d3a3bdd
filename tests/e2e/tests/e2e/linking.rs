//! The whole linking flow as Alexa drives it: authorize, Spotify consent, callback, code exchange.

use e2e::oauth::oauth_error;
use e2e::{
    ALEXA_CLIENT_ID, ALEXA_REDIRECT_URI, ALEXA_REDIRECT_URI_2, ALICE, BOB, Backend, DENIER,
    TokenPair, pkce_pair, spawn_broker, spawn_sandbox,
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

/// What every successful token answer must look like (RFC 6749 §5.1, Alexa's minimum lifetime).
pub fn assert_token_answer(pair: &TokenPair) {
    assert_eq!(pair.token_type, "Bearer");
    assert!(pair.expires_in >= 360, "expires_in {}", pair.expires_in);
    assert!(
        pair.access_token.starts_with("bat_"),
        "{}",
        pair.access_token
    );
    assert!(
        pair.refresh_token.starts_with("brt_"),
        "{}",
        pair.refresh_token
    );
    assert_eq!(pair.headers["cache-control"], "no-store");
    assert_eq!(pair.headers["pragma"], "no-cache");
    assert!(
        pair.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

async fn link_flow_with_basic_credentials(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("xyz-state/with spaces&more"), None)
        .await;
    assert_eq!(redirect.base(), ALEXA_REDIRECT_URI);
    assert_eq!(
        redirect.state.as_deref(),
        Some("xyz-state/with spaces&more")
    );
    let code = redirect.expect_code();
    assert!(code.starts_with("bac_"), "{code}");

    let response = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
        ])
        .await;
    let pair = TokenPair::from_response(response).await;
    assert_token_answer(&pair);

    // The link exists with the Spotify tokens the sandbox issued, and the token works for the skill.
    let link_id = broker.link_id_of(ALICE).await;
    let link = broker.open_link(&pair.access_token).await;
    assert_eq!(link.summary.display_name.as_deref(), Some("Alice Example"));
    assert!(link.tokens.is_some());
    let status = broker.link_status(&pair.access_token).await;
    assert_eq!(status.status(), StatusCode::OK);
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["link_id"], link_id.to_string());
    assert_eq!(status["status"], "active");

    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(counters.token_calls("authorization_code"), 1);
    assert_eq!(counters.api_calls("GET /v1/me"), 1);
}

async fn link_flow_with_body_credentials(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(BOB).await;
    let response = broker
        .token_with_body(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
        ])
        .await;
    let pair = TokenPair::from_response(response).await;
    assert_token_answer(&pair);
    broker.link_id_of(BOB).await;
}

async fn link_flow_with_pkce(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (verifier, challenge) = pkce_pair();
    let mut params = broker.authorize_params("s1");
    params.push(("code_challenge".to_owned(), challenge));
    params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    let code = broker
        .follow_to_spotify_and_back(&params, None)
        .await
        .expect_code();
    let pair = broker.exchange_code(&code, Some(&verifier)).await;
    assert_token_answer(&pair);
}

/// The broker's own request to Spotify always carries its state and an S256 challenge.
async fn broker_uses_state_and_pkce_toward_spotify(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let started = broker
        .start_authorization(&broker.authorize_params("alexa-state"))
        .await;
    let param = |name: &str| started.param(name);
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("code_challenge").map(|c| c.len()), Some(43));
    assert!(param("state").unwrap().starts_with("bst_"));
    assert_ne!(param("state").as_deref(), Some("alexa-state"));
    assert_eq!(
        param("redirect_uri"),
        Some(broker.url("/oauth/spotify/callback"))
    );
    assert!(param("scope").unwrap().contains("user-read-playback-state"));
    // Spotify asks every time, so the user sees which account they are granting.
    assert_eq!(param("show_dialog").as_deref(), Some("true"));
    assert_eq!(
        param("client_id").as_deref(),
        Some(broker.sandbox.client_id.as_str())
    );
}

async fn pkce_plain_is_refused(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (verifier, _) = pkce_pair();
    for method in [Some("plain"), None] {
        let mut params = broker.authorize_params("plain-state");
        params.push(("code_challenge".to_owned(), verifier.clone()));
        if let Some(method) = method {
            params.push(("code_challenge_method".to_owned(), method.to_owned()));
        }
        let response = broker.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{method:?}");
        let redirect = e2e::AlexaRedirect::parse(response.headers()["location"].to_str().unwrap());
        assert_eq!(redirect.base(), ALEXA_REDIRECT_URI);
        assert_eq!(
            redirect.error.as_deref(),
            Some("invalid_request"),
            "{method:?}"
        );
        assert_eq!(redirect.state.as_deref(), Some("plain-state"));
        assert!(redirect.code.is_none());
    }
}

async fn pkce_mismatch_and_missing_verifier(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (_, challenge) = pkce_pair();
    let (other_verifier, _) = pkce_pair();
    let with_pkce = || {
        let mut params = broker.authorize_params("s");
        params.push(("code_challenge".to_owned(), challenge.clone()));
        params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
        params
    };
    let exchange = |code: String, verifier: Option<String>| {
        let broker = &broker;
        async move {
            let mut form = vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), code),
                ("redirect_uri".to_owned(), ALEXA_REDIRECT_URI.to_owned()),
            ];
            if let Some(verifier) = verifier {
                form.push(("code_verifier".to_owned(), verifier));
            }
            oauth_error(broker.token_with_basic(&form).await).await
        }
    };

    // A verifier that does not hash to the challenge.
    let code = broker
        .follow_to_spotify_and_back(&with_pkce(), None)
        .await
        .expect_code();
    let (status, error, _) = exchange(code, Some(other_verifier.clone())).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // No verifier at all for a code issued with a challenge.
    let code = broker
        .follow_to_spotify_and_back(&with_pkce(), None)
        .await
        .expect_code();
    let (status, error, _) = exchange(code, None).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // A verifier for a code issued without a challenge.
    let code = broker.code_for(ALICE).await;
    let (status, error, _) = exchange(code, Some(other_verifier)).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

async fn relink_keeps_link_id_and_replaces_tokens(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let first = broker.link_user(ALICE).await;
    let link_id = broker.link_id_of(ALICE).await;
    let before = broker.open_link(&first.access_token).await;

    let second = broker.link_user(ALICE).await;
    assert_eq!(broker.link_id_of(ALICE).await, link_id);
    let after = broker.open_link(&second.access_token).await;
    // The relink sealed the link under a new key: the earlier grant's tokens are revoked.
    assert_eq!(
        broker.link_status(&first.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        broker.refresh(&first.refresh_token).await.status(),
        StatusCode::BAD_REQUEST
    );
    let (old, new) = (before.tokens.unwrap(), after.tokens.unwrap());
    assert_ne!(
        old.refresh_token.expose_secret(),
        new.refresh_token.expose_secret()
    );
    assert_ne!(
        old.access_token.expose_secret(),
        new.access_token.expose_secret()
    );
    assert!(after.token_version > before.token_version);
    assert_ne!(first.access_token, second.access_token);
    assert_eq!(
        broker.store.list_links(None, 10).await.unwrap().len(),
        1,
        "a relink must not add a row"
    );

    // Another Spotify account gets its own link.
    broker.link_user(BOB).await;
    assert_ne!(broker.link_id_of(BOB).await, link_id);
}

async fn second_registered_redirect_uri_works(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let mut params = broker.authorize_params("s2");
    params[2].1 = ALEXA_REDIRECT_URI_2.to_owned();
    let redirect = broker.follow_to_spotify_and_back(&params, None).await;
    assert_eq!(redirect.base(), ALEXA_REDIRECT_URI_2);
    let code = redirect.expect_code();
    // The code is bound to the redirect URI it was issued for.
    let wrong = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
        ])
        .await;
    let (status, error, _) = oauth_error(wrong).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let code = broker
        .follow_to_spotify_and_back(&params, None)
        .await
        .expect_code();
    let right = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI_2),
        ])
        .await;
    assert_token_answer(&TokenPair::from_response(right).await);
}

async fn spotify_denial_redirects_access_denied_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("deny-state"), Some(DENIER))
        .await;
    assert_eq!(redirect.base(), ALEXA_REDIRECT_URI);
    assert_eq!(redirect.error.as_deref(), Some("access_denied"));
    assert_eq!(redirect.state.as_deref(), Some("deny-state"));
    assert!(redirect.code.is_none());
    assert!(broker.store.list_links(None, 10).await.unwrap().is_empty());
}

async fn spotify_exchange_failure_redirects_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker
        .sandbox
        .client
        .fail_next_token(10, 503)
        .await
        .unwrap();
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("fault-state"), None)
        .await;
    assert_eq!(redirect.base(), ALEXA_REDIRECT_URI);
    assert_eq!(redirect.error.as_deref(), Some("temporarily_unavailable"));
    assert_eq!(redirect.state.as_deref(), Some("fault-state"));
    assert!(redirect.code.is_none());
    assert!(broker.store.list_links(None, 10).await.unwrap().is_empty());
}

async fn spotify_profile_failure_redirects_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker
        .sandbox
        .client
        .fail_next(10, 500, Some("/v1/me"))
        .await
        .unwrap();
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("me-state"), None)
        .await;
    assert_eq!(redirect.error.as_deref(), Some("temporarily_unavailable"));
    assert_eq!(redirect.state.as_deref(), Some("me-state"));
    assert!(broker.store.list_links(None, 10).await.unwrap().is_empty());
}

async fn spotify_rate_limiting_the_exchange_redirects_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker
        .sandbox
        .client
        .add_fault(&spotify_sandbox::FaultRule {
            count: 10,
            kind: spotify_sandbox::FaultKind::RateLimit { retry_after_s: 30 },
            path_prefix: Some("/api/token".to_owned()),
            include_token_endpoint: true,
        })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("rl-state"), None)
        .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the broker waited on Retry-After"
    );
    assert_eq!(redirect.error.as_deref(), Some("temporarily_unavailable"));
    assert_eq!(redirect.state.as_deref(), Some("rl-state"));
}

/// A broker whose Spotify secret is wrong: Spotify answers `invalid_client`, Alexa gets `server_error`.
async fn misconfigured_spotify_secret_redirects_server_error(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("spotify.client_secret", "not-the-sandbox-secret")],
    )
    .await;
    let redirect = broker
        .follow_to_spotify_and_back(&broker.authorize_params("cfg-state"), None)
        .await;
    assert_eq!(redirect.error.as_deref(), Some("server_error"));
    assert_eq!(redirect.state.as_deref(), Some("cfg-state"));
}

/// Spotify refusing the code (`invalid_grant`) and other callback errors go back to Alexa with its state.
async fn spotify_callback_errors_redirect_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let cases = [
        ("code=AQ-not-a-real-code", "access_denied"),
        ("error=server_error", "server_error"),
        ("", "server_error"),
    ];
    for (extra, expected) in cases {
        let started = broker
            .start_authorization(&broker.authorize_params("cb-state"))
            .await;
        let state = started.state();
        let cookie = Some(started.cookie.as_str());
        let query = if extra.is_empty() {
            format!("state={state}")
        } else {
            format!("{extra}&state={state}")
        };
        let response = broker.callback_in_browser(&query, cookie).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{extra}");
        let redirect = e2e::AlexaRedirect::parse(response.headers()["location"].to_str().unwrap());
        assert_eq!(redirect.base(), ALEXA_REDIRECT_URI, "{extra}");
        assert_eq!(redirect.error.as_deref(), Some(expected), "{extra}");
        assert_eq!(redirect.state.as_deref(), Some("cb-state"), "{extra}");
        // A state works once.
        let again = broker.callback_in_browser(&query, cookie).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert!(again.headers().get("location").is_none());
    }
}

async fn callback_without_a_known_state_is_an_error_page(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let forged = format!("bst_{}", "A".repeat(43));
    for query in [
        "code=abc".to_owned(),
        "code=abc&state=junk".to_owned(),
        format!("code=abc&state={forged}"),
        "state=a&state=b".to_owned(),
    ] {
        let response = broker.callback_raw(&query).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(response.headers().get("location").is_none(), "{query}");
    }
    assert_eq!(
        broker.sandbox.client.counters().await.unwrap().token_total,
        0
    );
}

/// RFC 6749 §10.12, RFC 9700 §4.7.1: an attacker consents with their own Spotify account and sends the
/// callback URL to a victim. Opened in any browser but the one that started linking, it issues no code.
async fn consent_finished_in_another_browser_gets_no_code(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let attacker = broker
        .start_authorization(&broker.authorize_params("attacker-state"))
        .await;
    let callback = broker
        .consent_at_spotify(&attacker.to_spotify, Some(BOB))
        .await;
    let query = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let victim = broker
        .start_authorization(&broker.authorize_params("victim-state"))
        .await;
    let forged = format!("broker_link=bbb_{}", "A".repeat(43));
    for (why, cookie) in [
        ("no cookie", None),
        (
            "the cookie of another authorization",
            Some(victim.cookie.as_str()),
        ),
        ("a forged cookie", Some(forged.as_str())),
    ] {
        let response = broker.callback_in_browser(&query, cookie).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert!(response.headers().get("location").is_none(), "{why}");
        let page = response.text().await.unwrap();
        assert!(!page.contains("bac_"), "{why}: {page}");
    }
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(counters.token_total, 0, "spotify's code was exchanged");
    assert!(
        broker.store.list_links(None, 10).await.unwrap().is_empty(),
        "a link was made"
    );
    // Refusals use nothing up: the browser that started it can still finish.
    let done = broker
        .callback_in_browser(&query, Some(&attacker.cookie))
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    let redirect = e2e::AlexaRedirect::parse(done.headers()["location"].to_str().unwrap());
    assert_eq!(redirect.state.as_deref(), Some("attacker-state"));
    redirect.expect_code();
}

/// The linking cookie on a plain-HTTP broker: HttpOnly, SameSite=Lax, the pending authorization's
/// lifetime; the callback clears it.
async fn linking_cookie_is_http_only_lax_and_cleared_by_the_callback(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let response = broker.authorize(&broker.authorize_params("c")).await;
    let header = e2e::set_cookie_header(&response).expect("a linking cookie");
    assert!(header.starts_with("broker_link=bbb_"), "{header}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Secure"), "{header}");

    let started = broker
        .start_authorization(&broker.authorize_params("c2"))
        .await;
    let back = broker.consent_at_spotify(&started.to_spotify, None).await;
    let query = url::Url::parse(&back).unwrap().query().unwrap().to_owned();
    let done = broker
        .callback_in_browser(&query, Some(&started.cookie))
        .await;
    assert_eq!(done.status(), StatusCode::FOUND);
    let cleared = e2e::set_cookie_header(&done).expect("the callback clears the cookie");
    assert!(
        cleared.starts_with("broker_link=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

/// Behind https the cookie is `Secure` and `__Host-`-prefixed (so `Path=/` and no `Domain`).
async fn linking_cookie_is_secure_and_host_prefixed_behind_https(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("server.public_url", "https://broker.example")],
    )
    .await;
    let response = broker.authorize(&broker.authorize_params("c")).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let header = e2e::set_cookie_header(&response).expect("a linking cookie");
    assert!(header.starts_with("__Host-broker_link=bbb_"), "{header}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    assert!(!header.contains("Domain"), "{header}");
}

/// A client secret with characters HTTP Basic must form-urlencode (RFC 6749 §2.3.1) works encoded, as
/// the RFC says, and raw, as many clients send it.
async fn basic_secret_needing_encoding_works_encoded_and_raw(backend: Backend) {
    let secret = "a+b/c:d%";
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("alexa.client_secret", secret)],
    )
    .await;
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    for (why, presented) in [("encoded", encoded.as_str()), ("raw", secret)] {
        let code = broker.code_for(ALICE).await;
        let response = broker
            .token_request()
            .basic_auth(ALEXA_CLIENT_ID, Some(presented))
            .body(e2e::app::encode(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", ALEXA_REDIRECT_URI),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{why}");
    }
    let wrong = broker
        .token_request()
        .basic_auth(ALEXA_CLIENT_ID, Some("a b/c:d%"))
        .body(e2e::app::encode(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

both_backends!(
    consent_finished_in_another_browser_gets_no_code,
    linking_cookie_is_http_only_lax_and_cleared_by_the_callback,
    linking_cookie_is_secure_and_host_prefixed_behind_https,
    basic_secret_needing_encoding_works_encoded_and_raw,
    link_flow_with_basic_credentials,
    link_flow_with_body_credentials,
    link_flow_with_pkce,
    broker_uses_state_and_pkce_toward_spotify,
    pkce_plain_is_refused,
    pkce_mismatch_and_missing_verifier,
    relink_keeps_link_id_and_replaces_tokens,
    second_registered_redirect_uri_works,
    spotify_denial_redirects_access_denied_with_state,
    spotify_exchange_failure_redirects_with_state,
    spotify_profile_failure_redirects_with_state,
    spotify_rate_limiting_the_exchange_redirects_with_state,
    misconfigured_spotify_secret_redirects_server_error,
    spotify_callback_errors_redirect_with_state,
    callback_without_a_known_state_is_an_error_page,
);
