//! Garbage in paths, queries and headers gets the documented JSON error (or the OAuth error page), never a
//! 5xx: percent-encoded invalid UTF-8, non-ASCII header bytes, numbers that do not fit.

use e2e::{ALICE, Backend, spawn_broker, spawn_sandbox};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

/// The normalized error body with `code` and `status`.
async fn assert_api_error(response: reqwest::Response, status: StatusCode, code: &str, why: &str) {
    assert_eq!(response.status(), status, "{why}");
    let body: serde_json::Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{why}: {e}"));
    assert_eq!(body["error"]["code"], code, "{why}");
}

fn junk() -> HeaderValue {
    HeaderValue::from_bytes(b"\xff\xfe junk").unwrap()
}

#[tokio::test]
async fn garbage_in_paths_queries_and_headers_gets_json_errors() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let tokens = broker.link_user(ALICE).await;
    let service = |request: reqwest::RequestBuilder| {
        request.header("X-Service-Token", broker.service_token.as_str())
    };
    let linked = |request: reqwest::RequestBuilder| {
        service(request)
            .bearer_auth(&tokens.access_token)
            .header("X-Alexa-User-Id", "amzn1.ask.account.bad-input")
    };

    let r = service(broker.http.get(broker.url("/v1/spotify/%FF%FE")))
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::NOT_FOUND,
        "not_found",
        "invalid utf-8 in the path",
    )
    .await;

    let r = service(broker.http.get(broker.url("/v1/link")))
        .header("X-Alexa-User-Id", junk())
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "X-Alexa-User-Id bytes",
    )
    .await;

    let r = service(broker.http.get(broker.url("/v1/link")))
        .header("Authorization", junk())
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "Authorization bytes: {}",
        r.status()
    );
    let _: serde_json::Value = r.json().await.unwrap();

    let r = broker
        .http
        .get(broker.url("/v1/link"))
        .header("X-Service-Token", junk())
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::UNAUTHORIZED,
        "service_unauthorized",
        "X-Service-Token bytes",
    )
    .await;

    for deadline in ["99999999999999999999999", "-1", "abc"] {
        let r = linked(broker.http.get(broker.url("/v1/spotify/me")))
            .header("X-Request-Deadline-Ms", deadline)
            .send()
            .await
            .unwrap();
        assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request", deadline).await;
    }

    let r = linked(
        broker
            .http
            .get(broker.url("/v1/spotify/search?q=%FF%FE&type=%00")),
    )
    .send()
    .await
    .unwrap();
    assert!(r.status().as_u16() < 500, "garbage query: {}", r.status());

    let admin = |path: &str| {
        broker
            .http
            .get(broker.url(path))
            .bearer_auth(&broker.admin_token)
    };
    let r = admin("/admin/links/%FF").send().await.unwrap();
    assert_api_error(
        r,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "admin link id bytes",
    )
    .await;
    let r = admin("/admin/links?limit=%FF").send().await.unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request", "admin limit").await;
    let r = admin("/admin/audit?after=%FF%FE").send().await.unwrap();
    assert!(
        r.status().as_u16() < 500,
        "admin audit cursor: {}",
        r.status()
    );

    for path in [
        "/oauth/authorize?client_id=%FF%FE&state=%FF",
        "/oauth/spotify/callback?state=%FF&code=%FE",
    ] {
        let r = broker
            .http
            .get(broker.url(path))
            .header("Accept-Language", junk())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    }

    let r = broker
        .token_request()
        .header("Authorization", junk())
        .body("grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}
