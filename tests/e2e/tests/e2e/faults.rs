//! Faults the broker must ride out (issue 13): its Postgres server restarting or cut off under load, its
//! pool exhausted, the broker killed with SIGKILL in the middle of a refresh whose answer rotated the
//! refresh token, Spotify slow, failing, rate limiting or out of quota for a while, and the embedded
//! store's file read-only or its disk full. Each answer must be in time and normalized, and each fault must
//! heal by itself, with no link lost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use broker::startup::{Application, Migrations};
use e2e::app::KEY_ID;
use e2e::process::Cluster;
use e2e::tcp_proxy::{ProxyMode, TcpProxy};
use e2e::{
    ALEXA_REDIRECT_URI, ALICE, BOB, Backend, BrokerSetup, TestBroker, TestDatabase, TokenPair,
    open_store, spawn_broker, spawn_sandbox, test_key_ring, try_spawn_broker,
};
use reqwest::Method;
use serde_json::Value;
use spotify_sandbox::{RefreshMode, SandboxClient};
use sqlx::Executor;

use crate::proxy_support::{Answer, Skill, link};

both_backends!(writer_lock_held_answers_unavailable_in_time_and_recovers);

/// One answer seen under load, reduced to what the assertions need.
#[derive(Debug, Clone)]
struct Seen {
    what: &'static str,
    /// Since the load started.
    at: Duration,
    elapsed: Duration,
    status: u16,
    /// The normalized code (`error.code`) or the OAuth `error`, or `-` on success.
    code: String,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {:?}: {} {} in {:?}",
            self.what, self.at, self.status, self.code, self.elapsed
        )
    }
}

fn error_code(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    value["error"]["code"]
        .as_str()
        .or_else(|| value["error"].as_str())
        .unwrap_or("-")
        .to_owned()
}

/// A user's tokens under load: the refresh grant replaces them when it succeeds.
struct Load {
    broker_url: String,
    http: reqwest::Client,
    service_token: String,
    client_id: String,
    client_secret: String,
    started: Instant,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

impl Load {
    fn new(broker: &TestBroker) -> Arc<Self> {
        Arc::new(Self {
            broker_url: broker.base_url.clone(),
            // A hang shows as an answer that took this long, not as a test that never ends.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            service_token: broker.service_token.clone(),
            client_id: broker.alexa_client_id.clone(),
            client_secret: broker.alexa_client_secret.clone(),
            started: Instant::now(),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        })
    }

    async fn record(&self, what: &'static str, request: reqwest::RequestBuilder) -> (u16, String) {
        let start = Instant::now();
        let (status, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            // No answer at all (the client's own timeout): recorded as status 0.
            Err(_) => (0, String::new()),
        };
        let seen = Seen {
            what,
            at: start.duration_since(self.started),
            elapsed: start.elapsed(),
            status,
            code: if status == 200 || status == 204 {
                "-".to_owned()
            } else {
                error_code(&body)
            },
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen);
        (status, body)
    }

    /// One user's loop: link status, a proxied GET, a refresh grant; until stopped.
    async fn user_loop(self: Arc<Self>, mut tokens: TokenPair) -> TokenPair {
        while !self.stop.load(Ordering::Relaxed) {
            let link = self
                .http
                .get(format!("{}/v1/link", self.broker_url))
                .bearer_auth(&tokens.access_token)
                .header("X-Service-Token", &self.service_token);
            self.record("GET /v1/link", link).await;
            let proxied = self
                .http
                .get(format!("{}/v1/spotify/me/player/devices", self.broker_url))
                .bearer_auth(&tokens.access_token)
                .header("X-Service-Token", &self.service_token)
                .header("X-Request-Deadline-Ms", "2000");
            self.record("GET /v1/spotify/me/player/devices", proxied)
                .await;
            let grant = self
                .http
                .post(format!("{}/oauth/token", self.broker_url))
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens.refresh_token.as_str()),
                ]);
            let (status, body) = self.record("POST /oauth/token", grant).await;
            if status == 200 {
                let value: Value = serde_json::from_str(&body).unwrap();
                tokens.access_token = value["access_token"].as_str().unwrap().to_owned();
                tokens.refresh_token = value["refresh_token"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokens
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Every answer was a success or `unavailable` (503, `temporarily_unavailable` at the token endpoint, or a
/// stale cached answer), and none took longer than `limit`.
fn assert_in_time_and_normalized(seen: &[Seen], limit: Duration) {
    let slowest = seen.iter().map(|s| s.elapsed).max().unwrap_or_default();
    let unavailable = seen.iter().filter(|s| s.status == 503).count();
    eprintln!(
        "{} answers, {unavailable} unavailable, the slowest in {slowest:?}",
        seen.len()
    );
    let bad: Vec<String> = seen
        .iter()
        .filter(|s| {
            let normalized = matches!(
                (s.status, s.code.as_str()),
                (200, "-") | (503, "unavailable" | "temporarily_unavailable")
            );
            !normalized || s.elapsed > limit
        })
        .map(ToString::to_string)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} answers late (over {limit:?}) or not normalized:\n{}",
        bad.len(),
        seen.len(),
        bad.join("\n")
    );
}

/// The upstream address of a `postgres://` URL.
async fn postgres_addr(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).unwrap();
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap_or(5432);
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .unwrap()
        .next()
        .unwrap()
}

/// A broker whose Postgres connections all pass through a proxy the test controls.
async fn broker_behind_proxy(overrides: &[(&str, &str)]) -> (TestBroker, TcpProxy, TestDatabase) {
    let database = TestDatabase::create(Backend::Postgres).await;
    let proxy = TcpProxy::start(postgres_addr(&database.url).await).await;
    let mut setup = BrokerSetup::new(Backend::Postgres);
    setup.database_url = Some(proxy.postgres_url(&database.url));
    for (key, value) in overrides {
        setup = setup.with(key, value);
    }
    let broker = try_spawn_broker(setup, spawn_sandbox().await)
        .await
        .unwrap();
    (broker, proxy, database)
}

/// Each link is still active and works with the tokens its user holds: no link lost.
async fn assert_links_work(broker: &TestBroker, database: &TestDatabase, users: &[TokenPair]) {
    for tokens in users {
        let status = broker.link_status(&tokens.access_token).await;
        assert_eq!(status.status(), 200, "{}", status.text().await.unwrap());
        let refreshed = broker.refresh(&tokens.refresh_token).await;
        assert_eq!(
            refreshed.status(),
            200,
            "{}",
            refreshed.text().await.unwrap()
        );
        Skill::new(broker, &tokens.access_token)
            .get("/me")
            .await
            .expect_ok(200);
    }
    let store = open_store(
        &database.url,
        test_key_ring(&[(KEY_ID, &broker.crypto_key)], KEY_ID),
    );
    let links = store.list_links(None, 100).await.unwrap();
    assert_eq!(links.len(), users.len());
    assert!(
        links
            .iter()
            .all(|l| l.status == broker::store::LinkStatus::Active),
        "{links:?}"
    );
}

/// Runs the load for `before`, applies `fault` for `during`, heals it and runs on for `after`.
async fn under_load(
    broker: &TestBroker,
    users: Vec<TokenPair>,
    before: Duration,
    during: Duration,
    after: Duration,
    fault: impl FnOnce(),
    heal: impl FnOnce(),
) -> (Vec<Seen>, Vec<TokenPair>, Duration, Duration) {
    let load = Load::new(broker);
    let workers: Vec<_> = users
        .into_iter()
        .map(|tokens| tokio::spawn(Arc::clone(&load).user_loop(tokens)))
        .collect();
    tokio::time::sleep(before).await;
    let fault_at = load.started.elapsed();
    fault();
    tokio::time::sleep(during).await;
    let healed_at = load.started.elapsed();
    heal();
    tokio::time::sleep(after).await;
    load.stop.store(true, Ordering::Relaxed);
    let mut tokens = Vec::new();
    for worker in workers {
        tokens.push(worker.await.unwrap());
    }
    (load.seen(), tokens, fault_at, healed_at)
}

/// Postgres restarting (every connection reset, then nothing listening for a while) under load: every
/// answer is a success or `unavailable` within the acquire timeout, the broker heals by itself when the
/// server is back, and every link still works.
#[tokio::test]
async fn postgres_restart_under_load_answers_unavailable_and_heals() {
    let (broker, proxy, database) =
        broker_behind_proxy(&[("database.acquire_timeout_s", "1")]).await;
    let users = vec![broker.link_user(ALICE).await, broker.link_user(BOB).await];
    let (seen, users, fault_at, healed_at) = under_load(
        &broker,
        users,
        Duration::from_millis(1000),
        Duration::from_secs(3),
        Duration::from_secs(4),
        || proxy.set(ProxyMode::Refuse),
        || proxy.set(ProxyMode::Forward),
    )
    .await;
    // One acquire timeout per store call, a few calls per request, and slack for a loaded machine.
    assert_in_time_and_normalized(&seen, Duration::from_millis(4500));
    let outage = seen
        .iter()
        .filter(|s| s.at > fault_at && s.at + s.elapsed < healed_at)
        .collect::<Vec<_>>();
    assert!(
        outage.iter().any(|s| s.status == 503),
        "the outage was seen: {}",
        outage.len()
    );
    // Healed by itself: the last two seconds are all successes.
    let tail: Vec<String> = seen
        .iter()
        .filter(|s| s.at > healed_at + Duration::from_secs(2) && s.status != 200)
        .map(ToString::to_string)
        .collect();
    assert!(tail.is_empty(), "not healed:\n{}", tail.join("\n"));
    assert_links_work(&broker, &database, &users).await;
}

/// Postgres cut off by a partition (connections held open, nothing answering): requests answer
/// `unavailable` within their time instead of waiting on the dead connections, and the broker heals when
/// the network does.
#[tokio::test]
async fn postgres_partition_answers_unavailable_in_time_and_heals() {
    let (broker, proxy, database) =
        broker_behind_proxy(&[("database.acquire_timeout_s", "1")]).await;
    let users = vec![broker.link_user(ALICE).await, broker.link_user(BOB).await];
    let (seen, users, _, healed_at) = under_load(
        &broker,
        users,
        Duration::from_millis(1000),
        Duration::from_secs(4),
        Duration::from_secs(5),
        || proxy.set(ProxyMode::Blackhole),
        || proxy.set(ProxyMode::Forward),
    )
    .await;
    assert_in_time_and_normalized(&seen, Duration::from_millis(4500));
    assert!(
        seen.iter().any(|s| s.status == 503),
        "the partition was seen"
    );
    let tail: Vec<String> = seen
        .iter()
        .filter(|s| s.at > healed_at + Duration::from_secs(3) && s.status != 200)
        .map(ToString::to_string)
        .collect();
    assert!(tail.is_empty(), "not healed:\n{}", tail.join("\n"));
    assert_links_work(&broker, &database, &users).await;
}

/// The broker's pool used up by requests stuck behind a lock someone else holds (a long migration, an
/// operator's transaction): requests that cannot get a connection answer `unavailable` after the acquire
/// timeout, the stuck ones after the statement timeout (Postgres) or the busy timeout (SQLite), none hangs,
/// and all is well once the lock is gone.
async fn writer_lock_held_answers_unavailable_in_time_and_recovers(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[
            ("database.max_connections", "2"),
            ("database.acquire_timeout_s", "1"),
            ("database.statement_timeout_ms", "1500"),
        ],
    )
    .await;
    let alice = broker.link_user(ALICE).await;
    let pool = broker.raw_pool().await;
    let mut holder = pool.acquire().await.unwrap();
    match backend {
        // Every request reads the token tables; an exclusive lock on one stops them all.
        Backend::Postgres => {
            holder.execute("begin").await.unwrap();
            holder
                .execute("lock table broker_token in access exclusive mode")
                .await
                .unwrap();
        }
        // SQLite has one writer: holding it stops every write.
        Backend::Sqlite => {
            holder.execute("begin immediate").await.unwrap();
        }
    }
    let answers = crate::proxy_support::concurrently(8, |i| {
        let broker_url = broker.base_url.clone();
        let (id, secret) = (
            broker.alexa_client_id.clone(),
            broker.alexa_client_secret.clone(),
        );
        let refresh_token = alice.refresh_token.clone();
        async move {
            let start = Instant::now();
            let response = reqwest::Client::new()
                .post(format!("{broker_url}/oauth/token"))
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                ])
                .timeout(Duration::from_secs(20))
                .send()
                .await
                .unwrap_or_else(|err| panic!("refresh grant {i}: {err}"));
            Answer {
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: response.text().await.unwrap_or_default(),
                elapsed: start.elapsed(),
                what: format!("refresh grant {i}"),
            }
        }
    })
    .await;
    // Postgres: acquire (1 s) + statement (1.5 s) per store call; SQLite: its 5 s busy timeout.
    let limit = match backend {
        Backend::Postgres => Duration::from_millis(4500),
        Backend::Sqlite => Duration::from_millis(7500),
    };
    for answer in &answers {
        assert_eq!(
            (answer.status, error_code(&answer.body).as_str()),
            (503, "temporarily_unavailable"),
            "{}: {}",
            answer.what,
            answer.body
        );
        assert_eq!(answer.header("retry-after"), Some("1"), "{}", answer.what);
        assert!(
            answer.elapsed <= limit,
            "{} took {:?}",
            answer.what,
            answer.elapsed
        );
    }
    holder.execute("rollback").await.unwrap();
    drop(holder);
    let refreshed = TokenPair::from_response(broker.refresh(&alice.refresh_token).await).await;
    Skill::new(&broker, &refreshed.access_token)
        .get("/me")
        .await
        .expect_ok(200);
}

/// One broker process (a short refresh lease and `invalid_grant` confirmation, plus `overrides`) with
/// alice linked, whose refresh tokens Spotify rotates on every refresh: the cluster, the sandbox's
/// controls, the broker's URL and alice's broker tokens.
async fn one_broker_with_alice_rotating(
    overrides: &[(&str, &str)],
) -> (Cluster, SandboxClient, String, TokenPair) {
    let mut settings = vec![
        ("BROKER__SPOTIFY__REFRESH_LEASE_S", "4"),
        ("BROKER__SPOTIFY__INVALID_GRANT_CONFIRM_MS", "200"),
    ];
    settings.extend_from_slice(overrides);
    let cluster = Cluster::start(spawn_sandbox().await, 1, None, &settings).await;
    let client = cluster.sandbox.client.clone();
    client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    let base = cluster.brokers[0].base_url();
    let code = cluster.link_code(ALICE, &base, &base).await;
    let alice = cluster.exchange(&base, &code).await;
    (cluster, client, base, alice)
}

/// The broker killed with SIGKILL after Spotify answered a refresh with a rotated refresh token but before
/// the broker stored it: the old refresh token is dead at Spotify, so the link cannot work again. After a
/// restart it must be cleanly `relink_required` (confirmed with Spotify, audited, the row kept), never stuck
/// answering `upstream_unavailable`, and a relink makes it work again.
#[tokio::test]
async fn sigkill_after_spotify_rotated_the_refresh_token_ends_in_relink_required() {
    let (mut cluster, client, base, alice) =
        one_broker_with_alice_rotating(&[("BROKER__DATABASE__STATEMENT_TIMEOUT_MS", "1000")]).await;
    // Not `/me`: its answer would be cached and the call below would not reach Spotify.
    let (status, _) = cluster
        .spotify_get(&base, &alice.access_token, "/me/player/devices")
        .await
        .unwrap();
    assert_eq!(status, 200);
    let link_id = cluster.link_id_of(ALICE).await;

    // Spotify forgets the access token; the next call refreshes, slowly enough to step in.
    client.expire_access_tokens(ALICE).await.unwrap();
    client.reset_counters().await.unwrap();
    client.set_latency(800).await.unwrap();
    let call = {
        let (cluster_http, token, service) = (
            cluster.http.clone(),
            alice.access_token.clone(),
            cluster.service_token.clone(),
        );
        let url = format!("{base}/v1/spotify/me");
        tokio::spawn(async move {
            cluster_http
                .get(url)
                .bearer_auth(token)
                .header("X-Service-Token", service)
                .send()
                .await
        })
    };
    wait_for_log(&cluster, "refreshing spotify access token").await;
    // The lease is taken; hold the link row so that storing Spotify's answer waits.
    let pool = cluster.database.raw_pool().await;
    let mut holder = pool.acquire().await.unwrap();
    holder.execute("begin").await.unwrap();
    sqlx::query("select link_id from link where link_id = $1 for update")
        .bind(&link_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let counters = client.counters().await.unwrap();
        if counters.token.get("refresh_token").copied().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no refresh reached spotify"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Spotify rotated the refresh token; the broker is waiting to store it. Kill it now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.brokers[0].process.kill().await;
    let _ = call.await;
    holder.execute("rollback").await.unwrap();
    drop(holder);
    client.set_latency(0).await.unwrap();

    let (port, admin_port) = (cluster.brokers[0].port, cluster.brokers[0].admin_port);
    cluster.brokers[0] = cluster.start_broker(0, port, admin_port).await;
    // While the dead process's lease lasts, answers come in time and normalized; then the refresh with the
    // old refresh token is refused twice by Spotify and the link is marked.
    let started = Instant::now();
    let final_status = loop {
        let asked = Instant::now();
        let (status, body) = cluster
            .spotify_get(&base, &alice.access_token, "/me")
            .await
            .unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(6),
            "{status} took {:?}",
            asked.elapsed()
        );
        let code = error_code(&body);
        assert!(
            matches!(
                (status.as_u16(), code.as_str()),
                (401, "relink_required") | (503, "upstream_unavailable")
            ),
            "{status} {body}"
        );
        if status == 401 {
            break code;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "stuck in between: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(final_status, "relink_required");
    let admin = cluster.brokers[0].admin_url();
    let details: Value = cluster
        .admin(Method::GET, &admin, &format!("/admin/links/{link_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details["status"], "relink_required", "{details}");
    let audit: Value = cluster
        .admin(
            Method::GET,
            &admin,
            &format!("/admin/audit?link_id={link_id}&kind=relink_required"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit["events"].as_array().map(Vec::len), Some(1), "{audit}");

    // Linking again brings the same link back.
    let code = cluster.link_code(ALICE, &base, &base).await;
    let again = cluster.exchange(&base, &code).await;
    let (status, body) = cluster
        .spotify_get(&base, &again.access_token, "/me")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(cluster.link_id_of(ALICE).await, link_id);
}

/// The broker killed with SIGKILL while its refresh call is on the way to Spotify: whatever Spotify did
/// with it, after a restart the link either works (Spotify never saw the call, or did not rotate) or is
/// cleanly `relink_required` (Spotify rotated and the answer died with the process), decided by what the
/// sandbox counted, never stuck in between.
#[tokio::test]
async fn sigkill_while_the_refresh_is_in_flight_leaves_a_working_or_cleanly_marked_link() {
    let (mut cluster, client, base, alice) = one_broker_with_alice_rotating(&[]).await;
    client.expire_access_tokens(ALICE).await.unwrap();
    client.reset_counters().await.unwrap();
    client.set_latency(1500).await.unwrap();
    let call = {
        let (http, token, service) = (
            cluster.http.clone(),
            alice.access_token.clone(),
            cluster.service_token.clone(),
        );
        let url = format!("{base}/v1/spotify/me");
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .header("X-Service-Token", service)
                .send()
                .await
        })
    };
    wait_for_log(&cluster, "refreshing spotify access token").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.brokers[0].process.kill().await;
    let _ = call.await;
    // Whatever the sandbox does with the orphaned call, it has done it after its latency.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    client.set_latency(0).await.unwrap();
    let rotated = client
        .counters()
        .await
        .unwrap()
        .token
        .get("refresh_token")
        .copied()
        .unwrap_or(0)
        > 0;

    let (port, admin_port) = (cluster.brokers[0].port, cluster.brokers[0].admin_port);
    cluster.brokers[0] = cluster.start_broker(0, port, admin_port).await;
    let started = Instant::now();
    let (status, body) = loop {
        let (status, body) = cluster
            .spotify_get(&base, &alice.access_token, "/me")
            .await
            .unwrap();
        let code = error_code(&body);
        if status == 200 || (status == 401 && code == "relink_required") {
            break (status, body);
        }
        assert_eq!(
            (status.as_u16(), code.as_str()),
            (503, "upstream_unavailable"),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "stuck in between: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if rotated {
        assert_eq!(
            status, 401,
            "spotify rotated the token the broker never stored: {body}"
        );
    } else {
        assert_eq!(status, 200, "spotify never saw the refresh: {body}");
    }
    eprintln!(
        "sigkill mid-refresh: the sandbox {} the orphaned refresh; the link {}",
        if rotated { "completed" } else { "dropped" },
        if rotated {
            "is relink_required"
        } else {
            "works"
        }
    );
}

async fn wait_for_log(cluster: &Cluster, needle: &str) {
    let started = Instant::now();
    while !cluster.brokers[0].process.output().contains(needle) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never logged {needle:?}:\n{}",
            cluster.outputs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Spotify slow, then failing, then rate limiting, then out of quota, each for a while, under steady
/// traffic from two users: every answer comes within the skill's deadline and is normalized, nothing
/// reaches Spotify during a cooldown, and all is well when Spotify is.
#[tokio::test]
async fn spotify_slow_failing_rate_limited_and_out_of_quota_for_a_while() {
    let broker = spawn_broker(
        Backend::Postgres,
        spawn_sandbox().await,
        &[("spotify.timeout_ms", "800")],
    )
    .await;
    let (alice, _) = link(&broker, ALICE).await;
    let (bob, _) = link(&broker, BOB).await;
    let skills = [
        Skill::new(&broker, &alice.access_token),
        Skill::new(&broker, &bob.access_token),
    ];
    let client = broker.sandbox.client.clone();
    let deadline_ms = 1200;
    let allowed_late = Duration::from_millis(deadline_ms + 700);
    let run = |window: Duration| {
        let skills = skills.clone();
        async move {
            let started = Instant::now();
            let mut answers = Vec::new();
            while started.elapsed() < window {
                for skill in &skills {
                    for (method, path) in [
                        (Method::GET, "/me/player"),
                        (Method::GET, "/me/player/devices"),
                        (Method::POST, "/me/player/next"),
                    ] {
                        answers.push(skill.spotify_within(method, path, deadline_ms).await);
                    }
                }
            }
            answers
        }
    };
    let check = |phase: &str, answers: &[Answer], codes: &[&str]| {
        for answer in answers {
            assert!(
                answer.elapsed <= allowed_late,
                "{phase}: {} took {:?}",
                answer.what,
                answer.elapsed
            );
            if !(200..300).contains(&answer.status) {
                let code = answer.error_code();
                assert!(
                    codes.contains(&code.as_str()),
                    "{phase}: {} answered {} {}",
                    answer.what,
                    answer.status,
                    answer.body
                );
                let status = answer.status;
                answer.expect_error(status, &code);
            }
        }
    };
    run(Duration::from_millis(300)).await;

    client.set_latency(2000).await.unwrap();
    let slow = run(Duration::from_secs(3)).await;
    check("slow", &slow, &["upstream_unavailable"]);
    client.set_latency(0).await.unwrap();

    client.fail_next(10_000, 503, None).await.unwrap();
    let failing = run(Duration::from_secs(3)).await;
    check("failing", &failing, &["upstream_unavailable"]);
    client.clear_faults().await.unwrap();

    for (phase, code) in [
        ("rate limited", "rate_limited"),
        ("out of quota", "quota_exceeded"),
    ] {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        if code == "rate_limited" {
            client.rate_limit_next(1, 3).await.unwrap();
        } else {
            client.quota_exceeded_next(1, Some(3)).await.unwrap();
        }
        // The first call meets the 429 and starts the cooldown.
        let first = skills[0]
            .spotify_within(Method::POST, "/me/player/next", deadline_ms)
            .await;
        first.expect_error(429, code);
        let before = client.counters().await.unwrap().api_total;
        let during = run(Duration::from_millis(2000)).await;
        let after = client.counters().await.unwrap().api_total;
        check(phase, &during, &[code]);
        assert!(
            during.iter().any(|a| a.status == 429),
            "{phase}: the cooldown was answered"
        );
        assert_eq!(
            before, after,
            "{phase}: no Spotify call during the cooldown"
        );
        client.clear_faults().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }

    // Healed.
    for skill in &skills {
        skill.get("/me/player/devices").await.expect_ok(200);
        let answer = skill.post("/me/player/next").await;
        assert!((200..300).contains(&answer.status), "{}", answer.body);
    }
}

/// A small tmpfs of its own, to fill up (mounting needs root, which `.ci/run` has).
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let path = std::env::temp_dir().join(format!("e2e-disk-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if mounted {
            Some(Self { path })
        } else {
            let _ = std::fs::remove_dir(&path);
            None
        }
    }

    /// Remounts the disk read-only (or writable again with `writable`); panics when the kernel refuses.
    fn remount(&self, writable: bool) {
        let mode = if writable { "remount,rw" } else { "remount,ro" };
        let output = std::process::Command::new("mount")
            .args(["-o", mode])
            .arg(&self.path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mount -o {mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Waits until this process holds no file on the disk open (a stopped broker's store closes in the
    /// background).
    async fn wait_until_closed(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let open = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .any(|target| target.starts_with(&self.path));
            if !open {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the stopped broker still holds its database open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The broker's SQLite database on this disk.
    fn database_url(&self) -> String {
        format!("sqlite://{}/broker.db", self.path.display())
    }

    /// A broker at its defaults whose SQLite database lives on this disk.
    async fn spawn_broker(&self) -> TestBroker {
        let mut setup = BrokerSetup::new(Backend::Sqlite);
        setup.database_url = Some(self.database_url());
        try_spawn_broker(setup, spawn_sandbox().await)
            .await
            .unwrap()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The embedded store's disk full: writes answer `unavailable` (503) at once with a clear log line, reads
/// go on, nothing is corrupted, and the broker works again as soon as there is space, without a restart.
#[tokio::test]
async fn sqlite_disk_full_answers_unavailable_and_heals_when_space_returns() {
    let Some(disk) = SmallDisk::mount("4m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let capture = e2e::LogCapture::start();
    let url = disk.database_url();
    let broker = disk.spawn_broker().await;
    let alice = broker.link_user(ALICE).await;
    let before = broker.open_link(&alice.access_token).await;
    let filler = disk.fill();

    // Writes fail cleanly and in time, again and again; reads go on.
    let mut refused = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let answer = broker.refresh(&alice.refresh_token).await;
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(7),
            "took {:?}",
            start.elapsed()
        );
        if status == 503 {
            assert_eq!(error_code(&body), "temporarily_unavailable", "{body}");
            refused += 1;
        } else {
            // A write small enough to fit a page SQLite still had.
            assert_eq!(status, 200, "{body}");
        }
    }
    assert!(refused > 0, "a full disk refused no write");
    let status = broker.link_status(&alice.access_token).await;
    assert!(
        status.status() == 200 || status.status() == 503,
        "{}",
        status.text().await.unwrap()
    );
    let logs = capture.contents();
    assert!(
        logs.contains("database or disk is full"),
        "the log says what is wrong"
    );

    // Space returns: everything works again, with the same link and its tokens intact.
    std::fs::remove_file(&filler).unwrap();
    let refreshed = TokenPair::from_response(broker.refresh(&alice.refresh_token).await).await;
    Skill::new(&broker, &refreshed.access_token)
        .get("/me")
        .await
        .expect_ok(200);
    let after = broker.open_link(&refreshed.access_token).await;
    assert_eq!(after.summary.link_id, before.summary.link_id);
    let bob = broker.link_user(BOB).await;
    assert_eq!(broker.link_status(&bob.access_token).await.status(), 200);
    assert_sqlite_intact(&url).await;
    broker.stop().await;
}

/// The embedded store's disk read-only under a running broker: writes (a token grant, a link, a revoke)
/// answer 503 (`unavailable`, or OAuth's `temporarily_unavailable` and its error redirect) at once with a
/// clear log line, reads that need no write go on, nothing is corrupted, and once the disk is writable
/// again every write works without a restart.
///
/// Linux refuses `mount -o remount,ro` (EBUSY) while any process holds a file on the filesystem open
/// for writing, and a running broker always holds its database so. So the broker is stopped for the
/// remount and a broker with the same configuration runs on the read-only disk; the WAL files a running
/// broker keeps (and a crashed one leaves) are put back, empty, so that SQLite can read a WAL database
/// on a read-only disk at all.
#[tokio::test]
async fn sqlite_read_only_disk_answers_unavailable_and_heals_when_writable_again() {
    let Some(disk) = SmallDisk::mount("16m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let capture = e2e::LogCapture::start();
    let url = disk.database_url();
    let first = disk.spawn_broker().await;
    let alice = first.link_user(ALICE).await;
    let settings = first.replica_settings(&[]).unwrap();
    first.stop().await;
    disk.wait_until_closed().await;
    for suffix in ["-wal", "-shm"] {
        let file = disk.path.join(format!("broker.db{suffix}"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .unwrap();
    }
    disk.remount(false);

    let app = Application::build(settings, Migrations::Apply)
        .await
        .expect("a broker starts on a read-only disk with nothing to migrate");
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = app.server_handle();
    tokio::spawn(app.run_until_stopped());
    let call = |method: Method, path: &str, bearer: &str| {
        first
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(bearer)
            .header("X-Service-Token", first.service_token.as_str())
    };
    let refresh = |refresh_token: &str| {
        first
            .http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&first.alexa_client_id, Some(&first.alexa_client_secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
    };
    let authorize = || {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(first.authorize_params("bob-state"))
            .finish();
        first
            .http
            .get(format!("{base}/oauth/authorize?{query}"))
            .send()
    };

    // Reads that need no write go on.
    let links: Value = call(Method::GET, "/admin/links", &first.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link_id = links["links"][0]["link_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{links}"))
        .to_owned();
    for (path, bearer) in [
        (format!("/admin/links/{link_id}"), &first.admin_token),
        ("/v1/link".to_owned(), &alice.access_token),
        ("/v1/spotify/me".to_owned(), &alice.access_token),
        ("/readyz".to_owned(), &alice.access_token),
    ] {
        let response = call(Method::GET, &path, bearer).send().await.unwrap();
        let status = response.status();
        assert_eq!(status, 200, "{path}: {}", response.text().await.unwrap());
    }

    // Writes answer 503 at once, again and again.
    for _ in 0..2 {
        let start = Instant::now();
        let response = refresh(&alice.refresh_token).await.unwrap();
        assert_eq!(response.status(), 503);
        let body = response.text().await.unwrap();
        assert_eq!(error_code(&body), "temporarily_unavailable", "{body}");
        let response = authorize().await.unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(ALEXA_REDIRECT_URI)
                && location.contains("error=temporarily_unavailable"),
            "linking: {location}"
        );
        for (method, path, bearer) in [
            (
                Method::DELETE,
                format!("/admin/links/{link_id}"),
                &first.admin_token,
            ),
            (
                Method::POST,
                "/v1/link/revoke".to_owned(),
                &alice.access_token,
            ),
        ] {
            let response = call(method.clone(), &path, bearer)
                .header("X-Alexa-User-Id", "amzn1.ask.account.read-only")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 503, "{method} {path}");
            let body = response.text().await.unwrap();
            assert_eq!(error_code(&body), "unavailable", "{method} {path}: {body}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
    }
    let logs = capture.contents();
    assert!(
        logs.contains("the sqlite database file cannot be written"),
        "the log says what is wrong"
    );

    // Writable again: every write works, without a restart.
    disk.remount(true);
    let response = refresh(&alice.refresh_token).await.unwrap();
    let refreshed = TokenPair::from_response(response).await;
    Skill::at(&base, &first, &refreshed.access_token)
        .get("/me")
        .await
        .expect_ok(200);
    let response = authorize().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(!location.contains("error="), "linking: {location}");
    let response = call(
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
        &first.admin_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 204);
    Skill::at(&base, &first, &refreshed.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
    assert!(
        capture
            .contents()
            .contains("the sqlite database file can be written again"),
        "the log says it healed"
    );
    server.stop(true).await;

    assert_sqlite_intact(&url).await;
}

/// SQLite's own check of the database file at `url` finds nothing wrong.
async fn assert_sqlite_intact(url: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    let integrity: String = sqlx::query_scalar("pragma integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    pool.close().await;
}
