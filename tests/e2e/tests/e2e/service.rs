//! The service around the OAuth endpoints: health, readiness, unknown paths, and an unreachable database.

use std::time::{Duration, Instant};

use broker::startup::Migrations;
use e2e::app::BrokerSetup;
use e2e::{Backend, spawn_broker, spawn_sandbox, try_spawn_broker};
use reqwest::StatusCode;
use serde_json::Value;

async fn health_readiness_and_unknown_paths(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let health = broker.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = broker.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);

    let ready: Value = broker.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    // (Unknown paths under /v1 and /admin answer 401 first without credentials; the proxy tests cover them.)
    for path in [
        "/",
        "/nope",
        "/oauth/nope",
        "/oauth/authorize/extra",
        "/healthz/x",
    ] {
        let response = broker.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }
}

/// Wrong methods on the OAuth endpoints are refused, never a 5xx.
async fn wrong_methods_are_refused(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let cases = [
        (reqwest::Method::GET, "/oauth/token"),
        (reqwest::Method::POST, "/oauth/authorize"),
        (reqwest::Method::PUT, "/oauth/token"),
        (reqwest::Method::GET, "/oauth/revoke"),
        (reqwest::Method::POST, "/oauth/spotify/callback"),
    ];
    for (method, path) in cases {
        let response = broker
            .http
            .request(method.clone(), broker.url(path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::METHOD_NOT_ALLOWED || status == StatusCode::NOT_FOUND,
            "{method} {path} answered {status}"
        );
    }
}

both_backends!(
    health_readiness_and_unknown_paths,
    wrong_methods_are_refused
);

/// Nothing listens on port 1.
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/broker";

#[tokio::test]
async fn unreachable_postgres_makes_readyz_503_without_hanging() {
    let mut setup = BrokerSetup::new(Backend::Postgres).with("database.acquire_timeout_s", "1");
    setup.database_url = Some(UNREACHABLE.to_owned());
    setup.migrations = Migrations::Skip;
    let broker = try_spawn_broker(setup, spawn_sandbox().await)
        .await
        .unwrap();
    assert_eq!(broker.get("/healthz").await.status(), StatusCode::OK);

    let started = Instant::now();
    let ready = broker.get("/readyz").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readyz took {:?}",
        started.elapsed()
    );
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        !body.to_string().contains("127.0.0.1:1"),
        "the answer leaks the database url: {body}"
    );

    // The token endpoint answers 503 (Alexa retries) rather than invalid_grant.
    let response = broker
        .refresh("brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unreachable_postgres_fails_startup_migrations_promptly() {
    let mut setup = BrokerSetup::new(Backend::Postgres).with("database.acquire_timeout_s", "1");
    setup.database_url = Some(UNREACHABLE.to_owned());
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        try_spawn_broker(setup, spawn_sandbox().await),
    )
    .await
    .expect("building with an unreachable database must not hang");
    let err = result.expect_err("migrations cannot run without a database");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let message = format!("{err:#}");
    assert!(message.contains("migration"), "{message}");
}
