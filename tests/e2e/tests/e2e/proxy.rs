//! Spotify through the broker: one refresh per link (in a process, across replicas, across a restart),
//! upstream discipline (retries, 429 cooldown, deadlines) and the response cache, over real HTTP.

use std::time::{Duration, Instant};

use e2e::{ALICE, Backend, TestBroker, spawn_broker, spawn_sandbox};
use reqwest::Method;
use spotify_sandbox::RefreshMode;

use crate::proxy_support::{
    Skill, concurrently, distinct_searches_answer_ok, link, refresh_at_sandbox, spawn_replica,
    spotify_tokens,
};

both_backends!(
    expired_token_refreshed_once_for_100_concurrent_requests,
    rotated_refresh_token_survives_restart,
    refresh_outliving_the_callers_deadline_still_stores_the_rotated_token,
    invalid_grant_requires_relink_and_stops_calling_spotify,
    rate_limit_answers_at_once_and_pauses_upstream,
    get_retried_on_5xx_but_put_is_not,
    cache_hit_makes_no_upstream_call,
    etag_revalidation_is_one_conditional_call,
    identical_concurrent_gets_make_one_upstream_call,
    stale_answer_served_when_spotify_fails,
    deadline_shorter_than_spotify_latency_answers_in_time,
);

async fn expired_token_refreshed_once_for_100_concurrent_requests(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .unwrap();
    broker.sandbox.client.reset_counters().await.unwrap();

    // Distinct queries: each is its own cache key, so every request meets the expired token upstream.
    distinct_searches_answer_ok(std::slice::from_ref(&skill), 100).await;
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(
        counters.token_calls("refresh_token"),
        1,
        "one refresh for 100 requests: {counters:?}"
    );
}

/// Three broker processes on one Postgres database: still one refresh for the link.
#[tokio::test]
async fn expired_token_refreshed_once_across_three_replicas() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let second = spawn_replica(&broker, &[]).await;
    let third = spawn_replica(&broker, &[]).await;
    let skills = [
        Skill::new(&broker, &pair.access_token),
        Skill::at(&second.base_url, &broker, &pair.access_token),
        Skill::at(&third.base_url, &broker, &pair.access_token),
    ];
    // Every replica holds the soon-expired token in memory.
    for skill in &skills {
        skill.get("/me/player/devices").await.expect_ok(200);
    }
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .unwrap();
    broker.sandbox.client.reset_counters().await.unwrap();

    distinct_searches_answer_ok(&skills, 100).await;
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(
        counters.token_calls("refresh_token"),
        1,
        "one refresh for 100 requests on three replicas: {counters:?}"
    );
}

async fn rotated_refresh_token_survives_restart(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    broker
        .sandbox
        .client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    let (pair, _) = link(&broker, ALICE).await;
    let (_, first_refresh) = spotify_tokens(&broker, &pair.access_token).await;

    // A refresh rotates the refresh token; the broker stores the new one.
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .unwrap();
    Skill::new(&broker, &pair.access_token)
        .get("/me/player/devices")
        .await
        .expect_ok(200);
    let (_, second_refresh) = spotify_tokens(&broker, &pair.access_token).await;
    assert_ne!(first_refresh, second_refresh, "the rotated token is stored");

    // Stop the broker; a new one on the same database (nothing in memory) refreshes with the stored token.
    broker.stop().await;
    assert!(
        broker
            .http
            .get(format!("{}/healthz", broker.base_url))
            .send()
            .await
            .is_err()
    );
    let restarted = spawn_replica(&broker, &[]).await;
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .unwrap();
    Skill::at(&restarted.base_url, &broker, &pair.access_token)
        .get("/me/player/devices")
        .await
        .expect_ok(200);
    let (_, third_refresh) = spotify_tokens(&broker, &pair.access_token).await;
    assert_ne!(second_refresh, third_refresh);
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(counters.token_calls("refresh_token"), 2, "{counters:?}");

    // The rotated-away tokens are dead at Spotify; the current one lives.
    for dead in [&first_refresh, &second_refresh] {
        let (status, body) = refresh_at_sandbox(&broker, dead).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
}

/// A refresh the caller has no time to wait for still finishes and stores Spotify's rotated refresh
/// token; dropping it half-way would leave the link with a revoked refresh token.
async fn refresh_outliving_the_callers_deadline_still_stores_the_rotated_token(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let client = &broker.sandbox.client;
    client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    let (pair, _) = link(&broker, ALICE).await;
    let (_, linked_refresh) = spotify_tokens(&broker, &pair.access_token).await;
    let skill = Skill::new(&broker, &pair.access_token);
    // The broker sees the access token as expired (nothing of the link is in its memory yet).
    let pool = broker.raw_pool().await;
    sqlx::query("update link set spotify_access_expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    client.set_latency(600).await.unwrap();

    skill
        .spotify_within(Method::PUT, "/me/player/pause", 150)
        .await
        .expect_error(503, "upstream_unavailable");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.set_latency(0).await.unwrap();

    let (_, stored_refresh) = spotify_tokens(&broker, &pair.access_token).await;
    assert_ne!(
        stored_refresh, linked_refresh,
        "the rotated refresh token was stored"
    );
    skill.get("/me/player/devices").await.expect_ok(200);
    let counters = client.counters().await.unwrap();
    assert_eq!(counters.token_calls("refresh_token"), 1, "{counters:?}");
}

async fn invalid_grant_requires_relink_and_stops_calling_spotify(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);
    let client = &broker.sandbox.client;
    client.revoke_grant(ALICE).await.unwrap();
    client.expire_access_tokens(ALICE).await.unwrap();
    client.reset_counters().await.unwrap();

    skill
        .get("/me/player/devices")
        .await
        .expect_error(401, "relink_required");
    let counters = client.counters().await.unwrap();
    assert_eq!(
        counters.token_calls("refresh_token"),
        2,
        "one refusal is confirmed once more before the link is marked: {counters:?}"
    );

    // The link is marked, its row (and tokens) kept.
    let stored = broker.open_link(&pair.access_token).await;
    assert_eq!(
        stored.summary.status,
        broker::store::LinkStatus::RelinkRequired
    );
    assert!(
        stored.tokens.is_some(),
        "invalid_grant keeps the row's tokens"
    );

    client.reset_counters().await.unwrap();
    skill
        .get("/me/player")
        .await
        .expect_error(401, "relink_required");
    skill
        .put("/me/player/pause")
        .await
        .expect_error(401, "relink_required");
    skill
        .get("/me/player/devices")
        .await
        .expect_error(401, "relink_required");
    let counters = client.counters().await.unwrap();
    assert_eq!(
        (counters.api_total, counters.token_total),
        (0, 0),
        "no Spotify call for a link that needs relinking: {counters:?}"
    );
}

async fn rate_limit_answers_at_once_and_pauses_upstream(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    client.rate_limit_next(1, 7).await.unwrap();

    let limited = skill.get("/me/player/devices").await;
    assert_eq!(limited.expect_error(429, "rate_limited"), Some(7));
    assert_eq!(limited.header("retry-after"), Some("7"));
    assert!(
        limited.elapsed < Duration::from_secs(2),
        "never slept on Retry-After"
    );

    let before = client.counters().await.unwrap();
    for answer in [
        skill.get("/me").await,
        skill.get("/me/player/devices").await,
        skill.put("/me/player/pause").await,
        skill.post("/me/player/next").await,
    ] {
        let retry_after_s = answer.expect_error(429, "rate_limited").unwrap();
        assert!((1..=7).contains(&retry_after_s), "{}", answer.body);
        assert_eq!(
            answer.header("retry-after"),
            Some(retry_after_s.to_string().as_str())
        );
    }
    let after = client.counters().await.unwrap();
    assert_eq!(
        before.api_total, after.api_total,
        "no upstream call during the cooldown"
    );
}

/// A 429 seen by one replica pauses the others too (they read the pause from the store).
#[tokio::test]
async fn rate_limit_pause_reaches_other_replicas() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let other = spawn_replica(&broker, &[]).await;
    let here = Skill::new(&broker, &pair.access_token);
    let there = Skill::at(&other.base_url, &broker, &pair.access_token);
    there.get("/me").await.expect_ok(200);
    let client = &broker.sandbox.client;
    client.rate_limit_next(1, 30).await.unwrap();
    here.get("/me/player/devices")
        .await
        .expect_error(429, "rate_limited");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = client.counters().await.unwrap();
    let answer = there.post("/me/player/next").await;
    let retry_after_s = answer.expect_error(429, "rate_limited").unwrap();
    assert!((1..=30).contains(&retry_after_s), "{}", answer.body);
    let after = client.counters().await.unwrap();
    assert_eq!(
        before.api_total, after.api_total,
        "the other replica sent nothing to Spotify during the pause"
    );
}

async fn get_retried_on_5xx_but_put_is_not(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    broker.sandbox.client.reset_counters().await.unwrap();
    a_get_is_retried_on_5xx_but_a_put_is_not(&broker, &skill).await;
}

/// Two 503s then a 200 for a GET: three calls, answered 200. A 502 for a player command: one call,
/// answered `upstream_unavailable`, and the command never happened.
async fn a_get_is_retried_on_5xx_but_a_put_is_not(broker: &TestBroker, skill: &Skill) {
    let client = &broker.sandbox.client;
    client
        .fail_next(2, 503, Some("/v1/me/player/devices"))
        .await
        .unwrap();
    skill.get("/me/player/devices").await.expect_ok(200);
    let counters = client.counters().await.unwrap();
    assert_eq!(
        counters.api_calls("GET /v1/me/player/devices"),
        3,
        "{counters:?}"
    );

    client
        .fail_next(1, 502, Some("/v1/me/player/pause"))
        .await
        .unwrap();
    skill
        .put("/me/player/pause")
        .await
        .expect_error(503, "upstream_unavailable");
    let counters = client.counters().await.unwrap();
    assert_eq!(
        counters.api_calls("PUT /v1/me/player/pause"),
        1,
        "a player command is never repeated: {counters:?}"
    );
    assert!(
        client.player(ALICE).await.unwrap().is_playing,
        "the pause never happened"
    );
}

/// `spotify.http_version = "http2"`: every Web API call goes over HTTP/2 (h2c to the sandbox), concurrent
/// calls included, and the upstream discipline holds as over HTTP/1.1 (a GET retried after 503s, a player
/// command never repeated). At `auto`, a plain `http` Spotify gets HTTP/1.1 (only TLS can agree on HTTP/2).
#[tokio::test]
async fn web_api_calls_speak_http2_when_configured() {
    let http2 = [("spotify.http_version", "http2")];
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &http2).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    client.reset_counters().await.unwrap();

    distinct_searches_answer_ok(std::slice::from_ref(&skill), 20).await;
    a_get_is_retried_on_5xx_but_a_put_is_not(&broker, &skill).await;
    let counters = client.counters().await.unwrap();
    assert_eq!(counters.api_arrived, 24, "{counters:?}");
    assert_eq!(
        counters.api_http2, 24,
        "every call over HTTP/2: {counters:?}"
    );
    // One connection per worker thread at most (actix's default: one worker per CPU), however many
    // calls start at once.
    let workers = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(
        (1..=workers).contains(&counters.connections),
        "{workers} workers: {counters:?}"
    );

    let auto = [("spotify.http_version", "auto")];
    let plain = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &auto).await;
    let (pair, _) = link(&plain, ALICE).await;
    plain.sandbox.client.reset_counters().await.unwrap();
    Skill::new(&plain, &pair.access_token)
        .get("/me/player/devices")
        .await
        .expect_ok(200);
    let counters = plain.sandbox.client.counters().await.unwrap();
    assert_eq!(
        (counters.api_arrived, counters.api_http2),
        (1, 0),
        "HTTP/1.1 to a plain-http Spotify at auto"
    );
}

async fn cache_hit_makes_no_upstream_call(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    client.reset_counters().await.unwrap();

    let first = skill.get("/me").await;
    first.expect_ok(200);
    assert_eq!(first.cache(), "miss");
    let second = skill.get("/me").await;
    second.expect_ok(200);
    assert_eq!(second.cache(), "hit");
    assert_eq!(first.body, second.body);
    let counters = client.counters().await.unwrap();
    assert_eq!(counters.api_calls("GET /v1/me"), 1, "{counters:?}");
    assert_eq!(counters.api_total, 1, "{counters:?}");

    // A player command drops the link's cached player state.
    assert_eq!(skill.get("/me/player/devices").await.cache(), "miss");
    assert_eq!(skill.get("/me/player/devices").await.cache(), "hit");
    let paused = skill.put("/me/player/pause").await;
    assert!((200..300).contains(&paused.status), "{}", paused.body);
    assert_eq!(paused.cache(), "miss");
    assert_eq!(skill.get("/me/player/devices").await.cache(), "miss");
    assert_eq!(
        skill.get("/me").await.cache(),
        "hit",
        "/me is not player state"
    );
}

async fn etag_revalidation_is_one_conditional_call(backend: Backend) {
    // Playlists are fresh for 30 s by default; 0 makes every later read a revalidation, without sleeping.
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("cache.fresh_s.playlists", "0")],
    )
    .await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;

    let first = skill.get("/me/playlists").await;
    first.expect_ok(200);
    assert_eq!(first.cache(), "miss");
    client.reset_counters().await.unwrap();

    let second = skill.get("/me/playlists").await;
    second.expect_ok(200);
    assert_eq!(second.cache(), "revalidated");
    assert_eq!(second.body, first.body);
    let counters = client.counters().await.unwrap();
    assert_eq!(
        (
            counters.api_calls("GET /v1/me/playlists"),
            counters.conditional_requests,
            counters.not_modified
        ),
        (1, 1, 1),
        "{counters:?}"
    );
}

async fn identical_concurrent_gets_make_one_upstream_call(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    // Latency keeps the first fetch in flight while the others arrive.
    client.set_latency(300).await.unwrap();
    client.reset_counters().await.unwrap();

    let answers = concurrently(50, |_| {
        let skill = skill.clone();
        async move { skill.get("/me/playlists?limit=5").await }
    })
    .await;
    for answer in &answers {
        answer.expect_ok(200);
        assert_eq!(answer.body, answers[0].body);
    }
    let counters = client.counters().await.unwrap();
    assert_eq!(
        counters.api_calls("GET /v1/me/playlists"),
        1,
        "50 identical GETs, one upstream call: {counters:?}"
    );
}

async fn stale_answer_served_when_spotify_fails(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;

    let fresh = skill.get("/me/player").await;
    fresh.expect_ok(200);
    // Player state is fresh for one second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.reset_counters().await.unwrap();
    client
        .fail_next(3, 503, Some("/v1/me/player"))
        .await
        .unwrap();

    let stale = skill.get("/me/player").await;
    stale.expect_ok(200);
    assert_eq!(stale.cache(), "stale");
    assert_eq!(stale.body, fresh.body);
    let counters = client.counters().await.unwrap();
    assert_eq!(counters.api_calls("GET /v1/me/player"), 3, "{counters:?}");
}

async fn deadline_shorter_than_spotify_latency_answers_in_time(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;

    let fresh = skill.get("/me/player").await;
    fresh.expect_ok(200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client.set_latency(1000).await.unwrap();

    // A cached (now stale) answer: served stale within the budget.
    let start = Instant::now();
    let stale = skill.get_within("/me/player", 200).await;
    let took = start.elapsed();
    stale.expect_ok(200);
    assert_eq!(stale.cache(), "stale");
    assert_eq!(stale.body, fresh.body);
    assert!(took < Duration::from_millis(600), "took {took:?}");

    // Nothing cached: `upstream_unavailable`, in time.
    let start = Instant::now();
    skill
        .get_within("/me/player/devices", 200)
        .await
        .expect_error(503, "upstream_unavailable");
    let took = start.elapsed();
    assert!(took < Duration::from_millis(600), "took {took:?}");

    // A player command too.
    let start = Instant::now();
    let answer = skill
        .call(
            Method::PUT,
            "/v1/spotify/me/player/pause",
            &[("x-request-deadline-ms", "200")],
            None,
        )
        .await;
    let took = start.elapsed();
    answer.expect_error(503, "upstream_unavailable");
    assert!(took < Duration::from_millis(600), "took {took:?}");
}
