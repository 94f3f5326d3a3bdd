//! Metrics: the families DESIGN.md names are exported and move with traffic, no label or value carries a
//! secret, the admin listener alone serves them when there is one, and the Grafana dashboard and the
//! Prometheus alerts name only what the broker and the skill export.
//!
//! One registry serves a whole process, and the tests of this binary run side by side: each test reads
//! the counters before and after its own traffic and asserts what it added, never absolute values.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::time::Duration;

use e2e::{ALICE, Backend, spawn_broker, spawn_sandbox};
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::Method;

use crate::proxy_support::{Skill, admin, link};
use crate::skill_conversation::Rig;

both_backends!(broker_metrics_move_with_traffic_and_carry_no_secret);

/// One scrape of a `/metrics` answer.
struct Metrics {
    text: String,
    samples: Vec<Sample>,
}

impl Metrics {
    async fn scrape(http: &reqwest::Client, url: &str) -> Self {
        let response = http
            .get(url)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain"),
            "Prometheus text format, not {content_type}"
        );
        let text = response.text().await.expect("a body");
        let scrape = Scrape::parse(text.lines().map(|line| Ok::<_, io::Error>(line.to_owned())))
            .unwrap_or_else(|err| panic!("not Prometheus text format ({err}): {text}"));
        Self {
            text,
            samples: scrape.samples,
        }
    }

    /// The sum of the counter, gauge or histogram count `name` over samples carrying `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
                Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
                Value::Summary(_) => 0.0,
            })
            .sum()
    }

    /// Whether any sample of `name` carries `labels`.
    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples
            .iter()
            .any(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    }

    /// Every series name as Prometheus stores it (histograms as `_bucket`, `_sum` and `_count`).
    fn series_names(&self) -> BTreeSet<String> {
        self.text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| line.split(['{', ' ']).next())
            .map(str::to_owned)
            .collect()
    }

    fn assert_free_of(&self, secrets: &[&str]) {
        for secret in secrets {
            assert!(
                !self.text.contains(secret),
                "/metrics shows a secret or personal value ({secret})"
            );
        }
    }
}

/// Asserts that `after` exceeds `before` by at least `at_least` for `name` with `labels`.
fn assert_grew(
    before: &Metrics,
    after: &Metrics,
    name: &str,
    labels: &[(&str, &str)],
    at_least: f64,
) {
    let grown = after.value(name, labels) - before.value(name, labels);
    assert!(
        grown >= at_least,
        "{name}{labels:?} grew by {grown}, expected at least {at_least}"
    );
}

async fn broker_metrics_move_with_traffic_and_carry_no_secret(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("metrics.links_refresh_s", "1")],
    )
    .await;
    let metrics_url = broker.url("/metrics");
    let before = Metrics::scrape(&broker.http, &metrics_url).await;

    let (pair, link_id) = link(&broker, ALICE).await;
    let refreshed = broker.refresh(&pair.refresh_token).await;
    assert_eq!(refreshed.status().as_u16(), 200);
    let refused = broker
        .token_with_body(&[
            ("grant_type", "authorization_code"),
            ("code", "not-a-code-anyone-issued"),
            ("redirect_uri", broker.redirect_uri.as_str()),
        ])
        .await;
    assert_eq!(refused.status().as_u16(), 400);
    let refreshed: serde_json::Value = refreshed.json().await.expect("token json");
    let access_token = refreshed["access_token"].as_str().expect("access token");
    let skill = Skill::new(&broker, access_token);
    skill.get("/me").await.expect_ok(200);
    skill.get("/me").await.expect_ok(200);
    // Spotify's access token expires: the next call refreshes it.
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .expect("expire");
    skill.get("/me/player/devices").await.expect_ok(200);
    // A 429 pauses Spotify calls; the search terms never reach a label.
    broker
        .sandbox
        .client
        .rate_limit_next(1, 1)
        .await
        .expect("rate limit");
    skill
        .get("/search?q=zebracorn-lullabies&type=track")
        .await
        .expect_error(429, "rate_limited");
    let revoked = admin(
        &broker,
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
        &broker.admin_token,
    )
    .await;
    assert_eq!(revoked.status, 204);
    // The links gauge is refreshed every second here.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let after = Metrics::scrape(&broker.http, &metrics_url).await;
    let grew = |name, labels: &[(&str, &str)], n| assert_grew(&before, &after, name, labels, n);
    grew(
        "broker_http_requests_total",
        &[("route", "/oauth/token"), ("status", "200")],
        2.0,
    );
    grew(
        "broker_http_requests_total",
        &[("route", "/oauth/token"), ("status", "400")],
        1.0,
    );
    grew(
        "broker_http_request_duration_seconds",
        &[("route", "/oauth/token")],
        3.0,
    );
    grew(
        "broker_token_grants_total",
        &[("grant_type", "authorization_code"), ("outcome", "issued")],
        1.0,
    );
    grew(
        "broker_token_grants_total",
        &[("grant_type", "refresh_token"), ("outcome", "issued")],
        1.0,
    );
    grew(
        "broker_token_grants_total",
        &[
            ("grant_type", "authorization_code"),
            ("outcome", "invalid_grant"),
        ],
        1.0,
    );
    grew("broker_cache_events_total", &[("event", "miss")], 1.0);
    grew("broker_cache_events_total", &[("event", "hit")], 1.0);
    grew(
        "broker_spotify_requests_total",
        &[("endpoint", "GET /me"), ("outcome", "ok")],
        1.0,
    );
    grew(
        "broker_spotify_requests_total",
        &[("endpoint", "GET /search"), ("outcome", "rate_limited")],
        1.0,
    );
    grew(
        "broker_spotify_request_duration_seconds",
        &[("endpoint", "GET /me/player/devices")],
        1.0,
    );
    grew(
        "broker_spotify_refreshes_total",
        &[("outcome", "refreshed")],
        1.0,
    );
    grew("broker_cooldowns_total", &[("kind", "rate_limit")], 1.0);
    grew("broker_audit_events_total", &[("kind", "linked")], 1.0);
    grew("broker_audit_events_total", &[("kind", "revoked")], 1.0);
    for status in ["active", "relink_required", "revoked"] {
        assert!(
            after.has("broker_links", &[("status", status)]),
            "broker_links{{status={status}}}"
        );
    }
    assert!(after.has("broker_store_up", &[]));
    assert!(after.has("broker_cooldown_remaining_seconds", &[("kind", "quota")]));
    assert!(after.has("broker_app_incident", &[]));
    assert!(after.has("broker_log_lines_dropped", &[]));

    after.assert_free_of(&[
        &pair.access_token,
        &pair.refresh_token,
        access_token,
        &broker.alexa_client_secret,
        &broker.admin_token,
        &broker.service_token,
        &link_id.to_string(),
        "zebracorn",
        "not-a-code-anyone-issued",
    ]);
    assert!(
        !after.text.contains(&format!("\"{ALICE}\"")),
        "no label names a Spotify user"
    );
}

/// With `server.admin_bind`, `/metrics` is served on the admin listener only.
#[tokio::test]
async fn metrics_are_served_only_on_the_admin_listener_when_there_is_one() {
    let broker = spawn_broker(
        Backend::Sqlite,
        spawn_sandbox().await,
        &[("server.admin_bind", "127.0.0.1:0")],
    )
    .await;
    let admin_url = broker.admin_base_url.clone().expect("an admin listener");
    let on_main = broker
        .http
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_main.status().as_u16(), 404);
    let body = on_main.text().await.unwrap();
    assert!(body.contains("\"not_found\""), "{body}");
    let metrics = Metrics::scrape(&broker.http, &format!("{admin_url}/metrics")).await;
    assert!(metrics.has("broker_http_requests_total", &[]));
}

/// `metrics.enabled = false` turns the endpoint off (the benchmark measures the metrics' cost this way).
#[tokio::test]
async fn metrics_can_be_turned_off() {
    let broker = spawn_broker(
        Backend::Sqlite,
        spawn_sandbox().await,
        &[("metrics.enabled", "false")],
    )
    .await;
    let answer = broker
        .http
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 404);
}

/// The skill counts requests by kind and outcome, broker calls by outcome and refusals by reason; and
/// once the broker and the skill have seen every kind of traffic, everything the dashboard and the alerts
/// query is exported.
#[tokio::test]
async fn skill_metrics_and_the_dashboards_queries_are_exported() {
    let rig = Rig::start(Backend::Sqlite).await;
    let skill_metrics = rig.skill.alexa_url().replace("/alexa", "/metrics");
    let http = &rig.broker.http;
    let before = Metrics::scrape(http, &skill_metrics).await;

    let token = rig.link(ALICE).await;
    let playing = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    assert_eq!(playing.status, 200);
    let unlinked = rig.send(&rig.from(None).launch()).await;
    assert_eq!(unlinked.status, 200);
    let unsigned = serde_json::to_vec(&rig.from(None).launch()).unwrap();
    let (status, _) = rig.skill.send_raw(unsigned, &[]).await.unwrap();
    assert_eq!(status, 400);
    // Spotify's access token expires: the next question refreshes it.
    rig.sandbox().expire_access_tokens(ALICE).await.unwrap();
    let refreshed = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    assert_eq!(refreshed.status, 200);
    rig.sandbox().rate_limit_next(1, 1).await.unwrap();
    rig.ask(&token, "ListPlaylistsIntent", &[]).await;
    let disabled = rig
        .send(
            &rig.from(Some(&token))
                .event("AlexaSkillEvent.SkillDisabled"),
        )
        .await;
    assert_eq!(disabled.status, 200);
    let relink = rig.ask(&token, "WhatsPlayingIntent", &[]).await;
    assert_eq!(relink.status, 200);

    let after = Metrics::scrape(http, &skill_metrics).await;
    let grew = |name, labels: &[(&str, &str)], n| assert_grew(&before, &after, name, labels, n);
    grew(
        "skill_requests_total",
        &[("kind", "WhatsPlayingIntent"), ("outcome", "answered")],
        2.0,
    );
    grew(
        "skill_requests_total",
        &[("kind", "WhatsPlayingIntent"), ("outcome", "link_account")],
        1.0,
    );
    grew(
        "skill_requests_total",
        &[("kind", "launch"), ("outcome", "link_account")],
        1.0,
    );
    grew(
        "skill_requests_total",
        &[("kind", "unverified"), ("outcome", "refused")],
        1.0,
    );
    grew(
        "skill_requests_total",
        &[("kind", "skill_disabled"), ("outcome", "answered")],
        1.0,
    );
    grew(
        "skill_request_duration_seconds",
        &[("kind", "WhatsPlayingIntent")],
        2.0,
    );
    grew("skill_broker_calls_total", &[("outcome", "ok")], 1.0);
    grew(
        "skill_broker_calls_total",
        &[("outcome", "relink_required")],
        1.0,
    );
    grew(
        "skill_verification_refusals_total",
        &[("reason", "missing_cert_url")],
        1.0,
    );
    after.assert_free_of(&[&token, &rig.broker.service_token]);
    assert!(
        !after.text.contains("amzn1.ask.account"),
        "no Alexa user id"
    );

    // The broker's scrape sees its families; in this process both services share one registry.
    let broker_scrape = Metrics::scrape(http, &rig.broker.url("/metrics")).await;
    let mut exported = after.series_names();
    exported.extend(broker_scrape.series_names());
    let queried = queried_metric_names();
    let missing: Vec<_> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard or the alerts query metrics nobody exports: {missing:?}"
    );
}

/// Every `broker_…` and `skill_…` name the Grafana dashboard and the alerting rules query.
fn queried_metric_names() -> BTreeSet<String> {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy.join("grafana/spotify-link-broker.json")).unwrap(),
    )
    .unwrap();
    let rules: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy.join("prometheus/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let mut expressions = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            expressions.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            expressions.push(rule["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(expressions.len() > 20, "{expressions:?}");
    expressions
        .iter()
        .flat_map(|expr| {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("broker_") || word.starts_with("skill_"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}
