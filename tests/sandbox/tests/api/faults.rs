//! Fault injection, latency and counters.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::json;
use spotify_sandbox::{FaultKind, FaultRule};

use super::helpers::{api_error, expect_json, start};

#[tokio::test]
async fn five_xx_then_success_with_counters() {
    let h = start().await;
    let tokens = h.link(None).await;
    h.sandbox.client.reset_counters().await.expect("reset");
    h.sandbox
        .client
        .fail_next(2, 503, Some("/v1/me/player"))
        .await
        .expect("fault");
    // Other paths are unaffected.
    assert_eq!(
        h.get("/v1/me", &tokens.access).await.status(),
        StatusCode::OK
    );
    expect_json(
        h.get("/v1/me/player", &tokens.access).await,
        StatusCode::SERVICE_UNAVAILABLE,
        api_error(503, "Service unavailable"),
    )
    .await;
    assert_eq!(
        h.get("/v1/me/player/devices", &tokens.access)
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        h.get("/v1/me/player", &tokens.access).await.status(),
        StatusCode::OK
    );
    // The token endpoint is faulted only when asked for.
    h.sandbox
        .client
        .fail_next(1, 500, None)
        .await
        .expect("fault");
    assert_eq!(h.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    assert_eq!(
        h.get("/v1/me", &tokens.access).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    h.sandbox
        .client
        .fail_next_token(1, 502)
        .await
        .expect("fault");
    assert_eq!(
        h.refresh(&tokens.refresh).await.status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(h.refresh(&tokens.refresh).await.status(), StatusCode::OK);

    let counters = h.sandbox.client.counters().await.expect("counters");
    assert_eq!(counters.api_calls("GET /v1/me/player"), 2);
    assert_eq!(counters.api_calls("GET /v1/me/player/devices"), 1);
    assert_eq!(counters.api_calls("GET /v1/me"), 2);
    assert_eq!(counters.token_calls("refresh_token"), 3);
    assert_eq!(counters.token_calls("authorization_code"), 0);
    assert_eq!(counters.token_total, 3);
    h.sandbox.client.reset_counters().await.expect("reset");
    assert_eq!(
        h.sandbox
            .client
            .counters()
            .await
            .expect("counters")
            .api_total,
        0
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after() {
    let h = start().await;
    let t = h.link(None).await.access;
    h.sandbox.client.rate_limit_next(1, 7).await.expect("fault");
    let response = h.get("/v1/me/playlists", &t).await;
    assert_eq!(response.headers()["retry-after"], "7");
    expect_json(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        api_error(429, "API rate limit exceeded"),
    )
    .await;
    assert_eq!(h.get("/v1/me/playlists", &t).await.status(), StatusCode::OK);
    // Faults can also be added as rules, and cleared.
    h.sandbox
        .client
        .add_fault(&FaultRule {
            count: 5,
            kind: FaultKind::Status { status: 500 },
            path_prefix: None,
            include_token_endpoint: false,
        })
        .await
        .expect("fault");
    h.sandbox.client.clear_faults().await.expect("clear");
    assert_eq!(h.get("/v1/me", &t).await.status(), StatusCode::OK);
    // Bad control input.
    let response = h
        .http
        .post(h.url("/sandbox/faults"))
        .json(&json!({"count": 1, "kind": "status", "status": 404}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn latency_delays_calls_but_not_controls() {
    let h = start().await;
    let t = h.link(None).await.access;
    h.sandbox.client.set_latency(150).await.expect("latency");
    let started = Instant::now();
    assert_eq!(h.get("/v1/me", &t).await.status(), StatusCode::OK);
    assert!(started.elapsed().as_millis() >= 150);
    let started = Instant::now();
    h.sandbox.client.counters().await.expect("counters");
    assert!(started.elapsed().as_millis() < 150);
    h.sandbox.client.set_latency(0).await.expect("latency");
    h.sandbox.stop().await.expect("stop");
}
