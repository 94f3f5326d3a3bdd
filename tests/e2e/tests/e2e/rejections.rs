//! Bad input gets a clear answer: the authorization request's rejections (an error page when the client or
//! redirect URI is untrusted, an error redirect otherwise) and every token-endpoint rejection.

use std::time::Duration;

use e2e::app::encode;
use e2e::oauth::oauth_error;
use e2e::{
    ALEXA_CLIENT_ID, ALEXA_REDIRECT_URI, ALEXA_REDIRECT_URI_2, ALICE, AlexaRedirect, Backend,
    TestBroker, TokenPair, spawn_broker, spawn_sandbox,
};
use reqwest::{Response, StatusCode};

/// An error page: the given status, HTML, no `Location`, nothing cached.
async fn assert_error_page(response: Response, why: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
    assert!(response.headers().get("location").is_none(), "{why}");
    assert_eq!(response.headers()["cache-control"], "no-store", "{why}");
    let body = response.text().await.unwrap();
    assert!(!body.is_empty(), "{why}");
}

/// A redirect to Alexa's URI carrying `error` and the original state.
fn assert_error_redirect(response: &Response, error: &str, state: &str, why: &str) {
    assert_eq!(response.status(), StatusCode::FOUND, "{why}");
    let redirect = AlexaRedirect::parse(response.headers()["location"].to_str().unwrap());
    assert_eq!(redirect.base(), ALEXA_REDIRECT_URI, "{why}");
    assert_eq!(redirect.error.as_deref(), Some(error), "{why}");
    assert_eq!(redirect.state.as_deref(), Some(state), "{why}");
    assert!(redirect.code.is_none(), "{why}");
}

fn params_without(broker: &TestBroker, name: &str) -> Vec<(String, String)> {
    let mut params = broker.authorize_params("st");
    params.retain(|(k, _)| k != name);
    params
}

fn params_with(broker: &TestBroker, name: &str, value: &str) -> Vec<(String, String)> {
    let mut params = params_without(broker, name);
    params.push((name.to_owned(), value.to_owned()));
    params
}

async fn authorize_refuses_untrusted_client_or_redirect_without_redirecting(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "unknown client",
            params_with(&broker, "client_id", "someone-else"),
        ),
        ("missing client", params_without(&broker, "client_id")),
        (
            "unregistered redirect",
            params_with(&broker, "redirect_uri", "https://evil.example/cb"),
        ),
        (
            "redirect with a trailing slash",
            params_with(&broker, "redirect_uri", &format!("{ALEXA_REDIRECT_URI}/")),
        ),
        (
            "redirect with an extra query",
            params_with(
                &broker,
                "redirect_uri",
                &format!("{ALEXA_REDIRECT_URI}?x=1"),
            ),
        ),
        (
            "redirect in another case",
            params_with(
                &broker,
                "redirect_uri",
                &ALEXA_REDIRECT_URI.replace("layla", "LAYLA"),
            ),
        ),
        ("missing redirect", params_without(&broker, "redirect_uri")),
    ];
    for (why, params) in cases {
        assert_error_page(broker.authorize(&params).await, why).await;
    }
    // Repeated parameters cannot be trusted either.
    for query in [
        format!(
            "response_type=code&client_id={ALEXA_CLIENT_ID}&client_id=x&redirect_uri={}&state=s",
            urlencode(ALEXA_REDIRECT_URI)
        ),
        format!(
            "response_type=code&client_id={ALEXA_CLIENT_ID}&redirect_uri={}&redirect_uri={}&state=s",
            urlencode(ALEXA_REDIRECT_URI),
            urlencode(ALEXA_REDIRECT_URI_2)
        ),
    ] {
        assert_error_page(broker.authorize_raw(&query).await, &query).await;
    }
    // A parameter name from the query is escaped on the page.
    let hostile = broker
        .authorize_raw(
            "%3Cscript%3Ealert(1)%3C%2Fscript%3E=1&%3Cscript%3Ealert(1)%3C%2Fscript%3E=2",
        )
        .await;
    assert_eq!(hostile.status(), StatusCode::BAD_REQUEST);
    let page = hostile.text().await.unwrap();
    assert!(
        !page.contains("<script>"),
        "the error page reflects markup: {page}"
    );

    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(counters.authorize, 0);
}

fn urlencode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

async fn authorize_errors_redirect_with_state(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let response = broker
        .authorize(&params_with(&broker, "response_type", "token"))
        .await;
    assert_error_redirect(
        &response,
        "unsupported_response_type",
        "st",
        "response_type=token",
    );
    let response = broker
        .authorize(&params_without(&broker, "response_type"))
        .await;
    assert_error_redirect(&response, "invalid_request", "st", "no response_type");
    let query = format!(
        "response_type=code&client_id={ALEXA_CLIENT_ID}&redirect_uri={}&state=st&state=st2",
        urlencode(ALEXA_REDIRECT_URI)
    );
    let response = broker.authorize_raw(&query).await;
    assert!(
        response.status() == StatusCode::BAD_REQUEST || response.status() == StatusCode::FOUND,
        "repeated state: {}",
        response.status()
    );
    if response.status() == StatusCode::FOUND {
        let redirect = AlexaRedirect::parse(response.headers()["location"].to_str().unwrap());
        assert_eq!(redirect.error.as_deref(), Some("invalid_request"));
    }
    // A state longer than the broker keeps.
    let long_state = "s".repeat(4096);
    let mut params = params_without(&broker, "state");
    params.push(("state".to_owned(), long_state.clone()));
    assert_error_redirect(
        &broker.authorize(&params).await,
        "invalid_request",
        &long_state,
        "long state",
    );
    // A malformed challenge.
    let mut params = broker.authorize_params("st");
    params.push(("code_challenge".to_owned(), "short".to_owned()));
    params.push(("code_challenge_method".to_owned(), "S256".to_owned()));
    assert_error_redirect(
        &broker.authorize(&params).await,
        "invalid_request",
        "st",
        "short challenge",
    );
}

/// How many pending authorizations the broker holds.
async fn pending_authorizations(broker: &TestBroker) -> i64 {
    sqlx::query_scalar("select count(*) from pending_authorization")
        .fetch_one(&broker.raw_pool().await)
        .await
        .unwrap()
}

/// Unauthenticated requests cannot grow the database: a 60 KB scope is refused before anything is stored.
async fn authorize_refuses_an_oversized_scope(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let huge = "playlist-read ".repeat(60 * 1024 / 14);
    assert_error_redirect(
        &broker
            .authorize(&params_with(&broker, "scope", &huge))
            .await,
        "invalid_scope",
        "st",
        "60 KB scope",
    );
    assert_eq!(pending_authorizations(&broker).await, 0);
    // At the bound it is kept.
    let response = broker
        .authorize(&params_with(&broker, "scope", &"s".repeat(1024)))
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(pending_authorizations(&broker).await, 1);
}

/// The N+1th authorization from one address (or for one client) within a minute is a 429 page, and
/// nothing is stored for it.
async fn authorize_is_capped_per_address_and_per_client(backend: Backend) {
    for (key, cap) in [
        ("oauth.authorize_per_minute_per_address", 3),
        ("oauth.authorize_per_minute_per_client", 2),
    ] {
        let broker = spawn_broker(backend, spawn_sandbox().await, &[(key, &cap.to_string())]).await;
        for i in 0..cap {
            let response = broker
                .authorize(&broker.authorize_params(&format!("s{i}")))
                .await;
            assert_eq!(response.status(), StatusCode::FOUND, "{key}: attempt {i}");
        }
        let refused = broker.authorize(&broker.authorize_params("over")).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "{key}");
        assert!(refused.headers().get("location").is_none(), "{key}");
        assert!(refused.headers().get("set-cookie").is_none(), "{key}");
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=61).contains(&retry_after), "{key}: {retry_after}");
        assert_eq!(refused.headers()["cache-control"], "no-store", "{key}");
        assert_eq!(
            pending_authorizations(&broker).await,
            i64::from(cap),
            "{key}"
        );
    }
}

async fn token_endpoint_rejects_bad_requests(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(ALICE).await;
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "wrong grant type",
            vec![("grant_type", "password"), ("code", &code)],
            "unsupported_grant_type",
        ),
        (
            "client credentials grant",
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
        ),
        ("no grant type", vec![("code", &code)], "invalid_request"),
        (
            "no code",
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", ALEXA_REDIRECT_URI),
            ],
            "invalid_request",
        ),
        (
            "no redirect uri",
            vec![("grant_type", "authorization_code"), ("code", &code)],
            "invalid_request",
        ),
        (
            "repeated code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code", &code),
                ("redirect_uri", ALEXA_REDIRECT_URI),
            ],
            "invalid_request",
        ),
        (
            "unknown code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "bac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                ("redirect_uri", ALEXA_REDIRECT_URI),
            ],
            "invalid_grant",
        ),
        (
            "garbage code",
            vec![
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                ("redirect_uri", ALEXA_REDIRECT_URI),
            ],
            "invalid_grant",
        ),
        (
            "unknown refresh token",
            vec![
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                ),
            ],
            "invalid_grant",
        ),
        (
            "no refresh token",
            vec![("grant_type", "refresh_token")],
            "invalid_request",
        ),
    ];
    for (why, form, expected) in cases {
        let (status, error, headers) = oauth_error(broker.token_with_basic(&form).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(error, expected, "{why}");
        assert_eq!(headers["cache-control"], "no-store", "{why}");
        assert_eq!(headers["pragma"], "no-cache", "{why}");
    }
    // None of those spent the code.
    broker.exchange_code(&code, None).await;
}

async fn token_endpoint_rejects_bad_client_authentication(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(ALICE).await;
    let grant = encode(&[
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", ALEXA_REDIRECT_URI),
    ]);
    let secret = broker.alexa_client_secret.clone();
    let unauthorized = [
        (
            "wrong basic secret",
            broker
                .token_request()
                .basic_auth(ALEXA_CLIENT_ID, Some("wrong"))
                .body(grant.clone()),
        ),
        (
            "unknown basic client",
            broker
                .token_request()
                .basic_auth("other-client", Some(&secret))
                .body(grant.clone()),
        ),
        (
            "wrong body secret",
            broker.token_request().body(format!(
                "{grant}&{}",
                encode(&[("client_id", ALEXA_CLIENT_ID), ("client_secret", "wrong")])
            )),
        ),
        (
            "unknown body client",
            broker.token_request().body(format!(
                "{grant}&{}",
                encode(&[("client_id", "other"), ("client_secret", secret.as_str())])
            )),
        ),
        (
            "body secret without client id",
            broker.token_request().body(format!(
                "{grant}&{}",
                encode(&[("client_secret", secret.as_str())])
            )),
        ),
        ("no credentials", broker.token_request().body(grant.clone())),
        (
            "garbage basic header",
            broker
                .token_request()
                .header("authorization", "Basic !!!not-base64")
                .body(grant.clone()),
        ),
        (
            "bearer instead of basic",
            broker
                .token_request()
                .bearer_auth("something")
                .body(grant.clone()),
        ),
    ];
    for (why, request) in unauthorized {
        let (status, error, headers) = oauth_error(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(error, "invalid_client", "{why}");
        assert!(
            headers.get("www-authenticate").is_some(),
            "{why}: 401 without WWW-Authenticate"
        );
        assert_eq!(headers["cache-control"], "no-store", "{why}");
    }

    // Basic and body credentials at once.
    let both = broker
        .token_request()
        .basic_auth(ALEXA_CLIENT_ID, Some(&secret))
        .body(format!(
            "{grant}&{}",
            encode(&[
                ("client_id", ALEXA_CLIENT_ID),
                ("client_secret", secret.as_str())
            ])
        ))
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(both).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // None of the refused requests spent the code.
    broker.exchange_code(&code, None).await;
}

async fn token_endpoint_rejects_malformed_bodies(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(ALICE).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", ALEXA_REDIRECT_URI),
    ];
    let basic = |request: reqwest::RequestBuilder| {
        request.basic_auth(ALEXA_CLIENT_ID, Some(broker.alexa_client_secret.clone()))
    };
    // JSON instead of a form.
    let json = basic(broker.http.post(broker.url("/oauth/token")))
        .json(&serde_json::json!({"grant_type": "authorization_code", "code": code}))
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(json).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // No content type at all.
    let bare = basic(broker.http.post(broker.url("/oauth/token")))
        .body(encode(&form))
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(bare).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // Bytes that are no form at all.
    let garbage = basic(broker.token_request())
        .body(vec![0xff, 0xfe, 0x00, b'%', b'%', b'=', 0x80, b'&', b'&'])
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(garbage).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // Larger than server.max_body_bytes (64 KiB by default).
    let padding = "x".repeat(70 * 1024);
    let big = basic(broker.token_request())
        .body(format!("{}&padding={padding}", encode(&form)))
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(big).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request")
    );
    // The code still works: nothing above touched it.
    broker.exchange_code(&code, None).await;
}

async fn expired_code_is_invalid_grant(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("oauth.authorization_code_ttl_s", "1")],
    )
    .await;
    let code = broker.code_for(ALICE).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
        ])
        .await;
    let (status, error, _) = oauth_error(response).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

/// The same, by moving the code's expiry into the past in the database (no waiting).
async fn code_expired_in_the_database_is_invalid_grant(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(ALICE).await;
    let pool = broker.raw_pool().await;
    let changed = sqlx::query("update authorization_code set expires_at = expires_at - 1000")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    let response = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", ALEXA_REDIRECT_URI),
        ])
        .await;
    let (status, error, _) = oauth_error(response).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

async fn reused_code_is_refused_and_revokes_its_tokens(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let code = broker.code_for(ALICE).await;
    let first = broker.exchange_code(&code, None).await;
    // The tokens work before the replay (and the access token is now known to the broker).
    assert_eq!(
        broker.link_status(&first.access_token).await.status(),
        StatusCode::OK
    );
    let rotated = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", ALEXA_REDIRECT_URI),
    ];
    let (status, error, _) = oauth_error(broker.token_with_basic(&form).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // And again with body credentials: still refused.
    let (status, error, _) = oauth_error(broker.token_with_body(&form).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // Every token issued from the code is dead: refresh tokens, first and rotated ...
    for refresh in [&first.refresh_token, &rotated.refresh_token] {
        let (status, error, _) = oauth_error(broker.refresh(refresh).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_grant")
        );
    }
    // ... and access tokens, in the store and at the API.
    for access in [&first.access_token, &rotated.access_token] {
        let hash = broker::domain::TokenHash::of(access);
        let found = broker
            .store
            .find_access_token(&hash, broker::domain::UnixTime::now())
            .await
            .unwrap();
        assert!(
            found.is_none(),
            "an access token from a replayed code still lives"
        );
        let response = broker.link_status(access).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "an access token from a replayed code is still accepted by /v1/link"
        );
    }
}

both_backends!(
    authorize_refuses_untrusted_client_or_redirect_without_redirecting,
    authorize_refuses_an_oversized_scope,
    authorize_is_capped_per_address_and_per_client,
    authorize_errors_redirect_with_state,
    token_endpoint_rejects_bad_requests,
    token_endpoint_rejects_bad_client_authentication,
    token_endpoint_rejects_malformed_bodies,
    expired_code_is_invalid_grant,
    code_expired_in_the_database_is_invalid_grant,
    reused_code_is_refused_and_revokes_its_tokens,
);

/// Guessing the client secret is slowed down: past `oauth.failed_client_auth_per_minute_per_address`
/// failures an address gets 429 `temporarily_unavailable` with `Retry-After` at the token and revocation
/// endpoints, even with the right secret (a right guess then tells nothing), until its allowance lets one
/// more attempt through.
#[tokio::test]
async fn repeated_failed_client_authentications_are_slowed_down() {
    let broker = spawn_broker(
        Backend::Sqlite,
        spawn_sandbox().await,
        &[("oauth.failed_client_auth_per_minute_per_address", "60")],
    )
    .await;
    let pair = broker.link_user(ALICE).await;
    let grant = |secret: String| {
        let request = broker
            .http
            .post(broker.url("/oauth/token"))
            .basic_auth(ALEXA_CLIENT_ID, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", pair.refresh_token.as_str()),
            ]));
        async move { request.send().await.unwrap() }
    };
    for i in 0..60 {
        let (status, error, _) = oauth_error(grant(format!("guess-{i}")).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_client")
        );
    }
    let over = grant("guess-61".to_owned()).await;
    let retry_after: u64 = over.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(over.headers()["cache-control"], "no-store");
    let (status, error, _) = oauth_error(over).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable")
    );
    // Refused now whatever the credentials, at both endpoints.
    let (status, _, _) = oauth_error(grant(broker.alexa_client_secret.clone()).await).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right secret is not checked"
    );
    assert_eq!(
        broker.revoke_token("brt_unknown").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Once the allowance recovers, the right secret works again.
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(200)).await;
    TokenPair::from_response(grant(broker.alexa_client_secret.clone()).await).await;
}
