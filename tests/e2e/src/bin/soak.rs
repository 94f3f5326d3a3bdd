//! The soak run behind `scripts/soak`: the real broker (on a fresh Postgres database) and skill binaries as
//! processes, the sandbox Spotify in this process, and a driver that sends mixed traffic for N minutes
//! (links, refresh grants, proxied calls, skill requests, admin revocations, SkillDisabled events) while it
//! injects Spotify faults and restarts the broker once. It samples the broker's and skill's resident
//! memory, counts answers by kind, and finally checks that every link that should open opens and that every
//! revoked one does not. Prints a report and writes it as JSON.

// A driver fails loudly: a harness that cannot start what it measures must stop at once.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use e2e::process::{BrokerProcess, Cluster, SKILL_ID};
use reqwest::StatusCode;
use serde_json::{Value, json};
use skill::test_support::AlexaRequest;
use spotify_sandbox::{RefreshMode, SandboxConfig, demo, spawn};

/// Sandbox users (all seeded at start, so a development-mode allowlist takes them all).
const USERS: usize = 12;
/// Concurrent traffic loops.
const WORKERS: usize = 8;

/// What the driver expects of a user's link.
#[derive(Debug, Clone)]
enum LinkState {
    Unlinked,
    Linked { access: String, refresh: String },
}

struct Slot {
    user: String,
    alexa_user: String,
    state: tokio::sync::Mutex<LinkState>,
}

struct Soak {
    cluster: Cluster,
    base: String,
    admin: String,
    slots: Vec<Slot>,
    /// Token pairs whose link was revoked: they must never open again.
    revoked: Mutex<Vec<(String, String)>>,
    /// `op status code` → count.
    answers: Mutex<BTreeMap<String, u64>>,
    /// Answers no fault explains (a 500, a refused live link, an answer later than 6 s).
    unexpected: Mutex<Vec<String>>,
    skill_url: String,
    /// Held while a link is made (the browser's cookie jar holds one linking cookie).
    linking: tokio::sync::Mutex<()>,
    stop: AtomicBool,
    rng: AtomicU64,
    broker_pid: AtomicU32,
    restarting: AtomicBool,
    started: Instant,
}

impl Soak {
    fn random(&self, below: usize) -> usize {
        // xorshift64*, shared; quality is beside the point.
        let mut x = self.rng.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.store(x, Ordering::Relaxed);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % below.max(1)
    }

    fn count(&self, op: &str, status: u16, code: &str, elapsed: Duration) {
        let key = format!("{op} {status} {code}");
        *self
            .answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default() += 1;
        let restarting = self.restarting.load(Ordering::Relaxed);
        let unexplained = match (status, code) {
            (0, _) => !restarting,
            (500..=599, "unavailable" | "upstream_unavailable" | "temporarily_unavailable") => {
                false
            }
            (500..=599, _) => true,
            (401, "relink_required") => op != "skill_disabled" && op != "final",
            _ => false,
        };
        if unexplained || elapsed > Duration::from_secs(6) {
            self.unexpected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!(
                    "{:.0}s: {key} in {elapsed:?}",
                    self.started.elapsed().as_secs_f64()
                ));
        }
    }

    async fn send(&self, op: &str, request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
        let start = Instant::now();
        match request.timeout(Duration::from_secs(15)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let code = body["error"]["code"]
                    .as_str()
                    .or_else(|| body["error"].as_str())
                    .unwrap_or("-")
                    .to_owned();
                self.count(op, status, &code, start.elapsed());
                Some((status, body))
            }
            Err(_) => {
                self.count(op, 0, "transport", start.elapsed());
                None
            }
        }
    }

    async fn skill_request(&self, op: &str, body: Value) -> Option<(u16, Value)> {
        let request = self
            .cluster
            .http
            .post(format!("{}/alexa", self.skill_url))
            .json(&body);
        self.send(op, request).await
    }

    /// One operation on one user's link, chosen by what the link is.
    async fn step(self: &Arc<Self>) {
        let slot = &self.slots[self.random(self.slots.len())];
        let Ok(mut state) = slot.state.try_lock() else {
            return;
        };
        match state.clone() {
            LinkState::Unlinked => {
                let soak = Arc::clone(self);
                let user = slot.user.clone();
                // The cluster's browser has one cookie jar: one linking at a time, timed from when it
                // has the browser.
                let _browser = self.linking.lock().await;
                let start = Instant::now();
                // The cluster's linking helpers panic on anything but success: a panic is a failed link.
                let linked = tokio::spawn(async move {
                    let code = soak.cluster.link_code(&user, &soak.base, &soak.base).await;
                    soak.cluster.exchange(&soak.base, &code).await
                })
                .await;
                match linked {
                    Ok(pair) => {
                        self.count("link", 200, "-", start.elapsed());
                        *state = LinkState::Linked {
                            access: pair.access_token,
                            refresh: pair.refresh_token,
                        };
                    }
                    Err(err) => {
                        // The helper's panic says which step answered what ("expected 302, got 429").
                        let message = err
                            .try_into_panic()
                            .ok()
                            .and_then(|p| p.downcast::<String>().ok().map(|s| *s))
                            .unwrap_or_default();
                        let (status, code) = if message.contains("error sending request") {
                            (0, "transport")
                        } else if message.contains("temporarily_unavailable") {
                            (302, "temporarily_unavailable")
                        } else {
                            let status = message
                                .split("got ")
                                .nth(1)
                                .and_then(|rest| rest.get(..3))
                                .and_then(|code| code.parse().ok())
                                .unwrap_or(0);
                            (status, "failed")
                        };
                        if std::env::var_os("SOAK_DEBUG").is_some() {
                            eprintln!("link failed: {message}");
                        }
                        self.count("link", status, code, start.elapsed());
                    }
                }
            }
            LinkState::Linked { access, refresh } => {
                let roll = self.random(100);
                if roll < 38 {
                    let intent = [
                        "WhatsPlayingIntent",
                        "ListPlaylistsIntent",
                        "AMAZON.PauseIntent",
                    ][self.random(3)];
                    let body = AlexaRequest::new(SKILL_ID)
                        .linked(&access)
                        .user(&slot.alexa_user)
                        .intent(intent, &[]);
                    self.skill_request("skill_intent", body).await;
                } else if roll < 64 {
                    let path =
                        ["/me/player", "/me/player/devices", "/me/playlists"][self.random(3)];
                    let request = self
                        .cluster
                        .http
                        .get(format!("{}/v1/spotify{path}", self.base))
                        .bearer_auth(&access)
                        .header("X-Service-Token", &self.cluster.service_token)
                        .header("X-Alexa-User-Id", &slot.alexa_user)
                        .header("X-Request-Deadline-Ms", "2500");
                    self.send("proxied_get", request).await;
                } else if roll < 74 {
                    let request = self
                        .cluster
                        .http
                        .get(format!("{}/v1/link", self.base))
                        .bearer_auth(&access)
                        .header("X-Service-Token", &self.cluster.service_token)
                        .header("X-Alexa-User-Id", &slot.alexa_user);
                    self.send("link_status", request).await;
                } else if roll < 98 {
                    let request = self
                        .cluster
                        .http
                        .post(format!("{}/oauth/token", self.base))
                        .basic_auth(
                            e2e::ALEXA_CLIENT_ID,
                            Some(&self.cluster.alexa_client_secret),
                        )
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
                    if let Some((200, body)) = self.send("refresh_grant", request).await {
                        *state = LinkState::Linked {
                            access: body["access_token"].as_str().unwrap_or_default().to_owned(),
                            refresh: body["refresh_token"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        };
                    }
                } else if roll < 99 {
                    // The operator revokes the link.
                    let Some(link_id) = self.link_id(&slot.user).await else {
                        return;
                    };
                    let request = self
                        .cluster
                        .http
                        .delete(format!("{}/admin/links/{link_id}", self.admin))
                        .bearer_auth(&self.cluster.admin_token);
                    if let Some((204, _)) = self.send("admin_revoke", request).await {
                        self.revoked
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((access, refresh));
                        *state = LinkState::Unlinked;
                    }
                } else {
                    // The user disables the skill.
                    let body = AlexaRequest::new(SKILL_ID)
                        .linked(&access)
                        .user(&slot.alexa_user)
                        .event("AlexaSkillEvent.SkillDisabled");
                    if let Some((200, _)) = self.skill_request("skill_disabled", body).await {
                        self.revoked
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((access, refresh));
                        *state = LinkState::Unlinked;
                    }
                }
            }
        }
    }

    async fn link_id(&self, user: &str) -> Option<String> {
        let body: Value = self
            .cluster
            .http
            .get(format!(
                "{}/admin/links?limit=100&status=active",
                self.admin
            ))
            .bearer_auth(&self.cluster.admin_token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        body["links"]
            .as_array()?
            .iter()
            .find(|l| l["spotify_user_id"].as_str() == Some(user))
            .and_then(|l| l["link_id"].as_str())
            .map(str::to_owned)
    }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10.0);
    let out = args
        .next()
        .unwrap_or_else(|| "target/soak/soak.json".to_owned());
    let total = Duration::from_secs_f64(minutes * 60.0);
    // A failed link is a panic in the linking helpers, counted by kind; its backtrace is noise.
    if std::env::var_os("SOAK_DEBUG").is_none() {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let linking = info
                .location()
                .is_some_and(|l| l.file().contains("process.rs") || l.file().contains("oauth.rs"));
            if !linking {
                default(info);
            }
        }));
    }
    let sample_every = Duration::from_secs_f64((total.as_secs_f64() / 40.0).clamp(2.0, 15.0));

    let users: Vec<String> = (0..USERS).map(|i| format!("soak{i:02}")).collect();
    let sandbox = spawn(
        SandboxConfig {
            workers: 2,
            ..SandboxConfig::with_users(users.iter().map(|u| demo::user(u)).collect())
        },
        "127.0.0.1:0",
    )
    .await?;
    for user in users.iter().step_by(2) {
        sandbox
            .client
            .set_refresh_mode(user, RefreshMode::Rotate)
            .await?;
    }
    let mut cluster = Cluster::start(
        sandbox,
        1,
        None,
        &[
            ("BROKER__LOG__LEVEL", "warn"),
            ("BROKER__DATABASE__MAX_CONNECTIONS", "8"),
            // All linking comes from this one address.
            ("BROKER__OAUTH__AUTHORIZE_PER_MINUTE_PER_ADDRESS", "100000"),
        ],
    )
    .await;
    let broker = cluster.brokers.remove(0);
    let base = broker.base_url();
    let skill_url = cluster.start_skill(&base).await;
    let skill_pid = cluster.skill.as_ref().map(|(p, _)| p.pid()).unwrap_or(0);
    println!(
        "soak: {minutes} min, broker {base} (pid {}), skill {skill_url}, logs in {}",
        broker.process.pid(),
        cluster.dir.display()
    );
    let soak = Arc::new(Soak {
        base: base.clone(),
        admin: broker.admin_url(),
        slots: users
            .iter()
            .enumerate()
            .map(|(i, user)| Slot {
                user: user.clone(),
                alexa_user: format!("amzn1.ask.account.SOAK{i:04}"),
                state: tokio::sync::Mutex::new(LinkState::Unlinked),
            })
            .collect(),
        revoked: Mutex::default(),
        answers: Mutex::default(),
        unexpected: Mutex::default(),
        skill_url,
        linking: tokio::sync::Mutex::new(()),
        stop: AtomicBool::new(false),
        rng: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
        broker_pid: AtomicU32::new(broker.process.pid()),
        restarting: AtomicBool::new(false),
        started: Instant::now(),
        cluster,
    });

    // Traffic.
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let soak = Arc::clone(&soak);
        tasks.push(tokio::spawn(async move {
            while !soak.stop.load(Ordering::Relaxed) {
                soak.step().await;
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }

    // Spotify faults, one cycle a minute (scaled down for short runs): slow, failing, rate limited, out of
    // quota, and access tokens expired so that refreshes (and rotations) happen.
    let faults = {
        let soak = Arc::clone(&soak);
        let cycle = Duration::from_secs_f64((total.as_secs_f64() / 4.0).min(60.0));
        tokio::spawn(async move {
            let client = soak.cluster.sandbox.client.clone();
            let mut log = Vec::new();
            let at = |fraction: f64| cycle.mul_f64(fraction);
            while !soak.stop.load(Ordering::Relaxed) {
                let cycle_start = Instant::now();
                let wait_until = |t: Duration| {
                    let soak = Arc::clone(&soak);
                    async move {
                        while cycle_start.elapsed() < t && !soak.stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                };
                let now = |soak: &Soak| soak.started.elapsed().as_secs();
                wait_until(at(0.15)).await;
                let _ = client.set_latency(1500).await;
                log.push(format!("{}s latency 1500 ms", now(&soak)));
                wait_until(at(0.3)).await;
                let _ = client.set_latency(0).await;
                let _ = client.fail_next(40, 503, None).await;
                log.push(format!("{}s next 40 calls 503", now(&soak)));
                wait_until(at(0.5)).await;
                let _ = client.rate_limit_next(1, 4).await;
                log.push(format!("{}s 429 rate limit (4 s)", now(&soak)));
                wait_until(at(0.65)).await;
                let _ = client.quota_exceeded_next(1, Some(4)).await;
                log.push(format!("{}s 429 quota exceeded (4 s)", now(&soak)));
                wait_until(at(0.8)).await;
                for _ in 0..3 {
                    let user = &soak.slots[soak.random(soak.slots.len())].user;
                    let _ = client.expire_access_tokens(user).await;
                }
                log.push(format!("{}s 3 users' access tokens expired", now(&soak)));
                wait_until(cycle).await;
                let _ = client.clear_faults().await;
            }
            let _ = client.clear_faults().await;
            log
        })
    };

    // Memory samples.
    let samples = {
        let soak = Arc::clone(&soak);
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !soak.stop.load(Ordering::Relaxed) {
                let pid = soak.broker_pid.load(Ordering::Relaxed);
                samples.push(json!({
                    "t_s": soak.started.elapsed().as_secs(),
                    "broker_rss_kib": rss_kib(pid),
                    "skill_rss_kib": rss_kib(skill_pid),
                }));
                tokio::time::sleep(sample_every).await;
            }
            samples
        })
    };

    // One broker restart (SIGTERM, as a deployment does) at 40% of the run.
    tokio::time::sleep(total.mul_f64(0.4)).await;
    let restart_at = soak.started.elapsed().as_secs();
    soak.restarting.store(true, Ordering::Relaxed);
    let mut broker: BrokerProcess = broker;
    broker.process.terminate();
    let status = broker.process.wait(Duration::from_secs(30)).await;
    let (port, admin_port) = (broker.port, broker.admin_port);
    let broker = soak.cluster.start_broker(0, port, admin_port).await;
    soak.broker_pid
        .store(broker.process.pid(), Ordering::Relaxed);
    soak.restarting.store(false, Ordering::Relaxed);
    let restart_took = soak.started.elapsed().as_secs() - restart_at;
    println!(
        "soak: broker restarted at {restart_at} s (old process exited {status}), back in {restart_took} s"
    );

    let remaining = total.saturating_sub(soak.started.elapsed());
    tokio::time::sleep(remaining).await;
    soak.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let fault_log = faults.await?;
    let samples = samples.await?;
    soak.cluster.sandbox.client.clear_faults().await?;
    // Let the last cooldown end.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Final check: every link that should open opens; every revoked one does not.
    let mut should_open = 0;
    let mut opened = 0;
    let mut failures = Vec::new();
    for slot in &soak.slots {
        if let LinkState::Linked { access, refresh } = slot.state.lock().await.clone() {
            should_open += 1;
            let link = soak
                .cluster
                .http
                .get(format!("{base}/v1/link"))
                .bearer_auth(&access)
                .header("X-Service-Token", &soak.cluster.service_token);
            let proxied = soak
                .cluster
                .http
                .get(format!("{base}/v1/spotify/me/player/devices"))
                .bearer_auth(&access)
                .header("X-Service-Token", &soak.cluster.service_token);
            let grant = soak
                .cluster
                .http
                .post(format!("{base}/oauth/token"))
                .basic_auth(
                    e2e::ALEXA_CLIENT_ID,
                    Some(&soak.cluster.alexa_client_secret),
                )
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
            let answers = [
                soak.send("final", link).await,
                soak.send("final", proxied).await,
                soak.send("final", grant).await,
            ];
            if answers.iter().all(|a| matches!(a, Some((200, _)))) {
                opened += 1;
            } else {
                failures.push(format!("{}: {answers:?}", slot.user));
            }
        }
    }
    let revoked = soak
        .revoked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut revoked_closed = 0;
    for (access, refresh) in &revoked {
        let link = soak
            .cluster
            .http
            .get(format!("{base}/v1/link"))
            .bearer_auth(access)
            .header("X-Service-Token", &soak.cluster.service_token)
            .send()
            .await?;
        let grant = soak
            .cluster
            .http
            .post(format!("{base}/oauth/token"))
            .basic_auth(
                e2e::ALEXA_CLIENT_ID,
                Some(&soak.cluster.alexa_client_secret),
            )
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .send()
            .await?;
        if link.status() == StatusCode::UNAUTHORIZED && grant.status() == StatusCode::BAD_REQUEST {
            revoked_closed += 1;
        } else {
            failures.push(format!(
                "a revoked link still opens: /v1/link {} refresh grant {}",
                link.status(),
                grant.status()
            ));
        }
    }

    // Memory after the restart: the last third against the middle third of the samples.
    let after_restart: Vec<u64> = samples
        .iter()
        .filter(|s| s["t_s"].as_u64().unwrap_or(0) > restart_at + restart_took)
        .filter_map(|s| s["broker_rss_kib"].as_u64())
        .collect();
    let third = after_restart.len() / 3;
    let (middle_max, last_max) = if third > 0 {
        (
            after_restart[third..2 * third]
                .iter()
                .max()
                .copied()
                .unwrap_or(0),
            after_restart[2 * third..]
                .iter()
                .max()
                .copied()
                .unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let growth_pct = if middle_max > 0 {
        (last_max as f64 - middle_max as f64) * 100.0 / middle_max as f64
    } else {
        0.0
    };
    let answers = soak
        .answers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let unexpected = soak
        .unexpected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let total_answers: u64 = answers.values().sum();
    let report = json!({
        "minutes": minutes,
        "answers_total": total_answers,
        "answers_by_kind": answers,
        "unexpected": unexpected,
        "faults": fault_log,
        "restart_at_s": restart_at,
        "restart_took_s": restart_took,
        "rss_samples": samples,
        "broker_rss_after_restart_middle_third_max_kib": middle_max,
        "broker_rss_after_restart_last_third_max_kib": last_max,
        "broker_rss_growth_pct": growth_pct,
        "links_should_open": should_open,
        "links_opened": opened,
        "revoked_checked": revoked.len(),
        "revoked_closed": revoked_closed,
        "failures": failures,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;

    println!("\nanswers by kind (op status code: count), {total_answers} in all:");
    for (kind, count) in &answers {
        println!("  {kind:<45} {count:>7}");
    }
    println!("\nfaults injected:");
    for line in report["faults"].as_array().into_iter().flatten() {
        println!("  {}", line.as_str().unwrap_or_default());
    }
    println!("\nresident memory (KiB):   t_s  broker  skill");
    for sample in &samples {
        println!(
            "  {:>26} {:>7} {:>6}",
            sample["t_s"], sample["broker_rss_kib"], sample["skill_rss_kib"]
        );
    }
    println!(
        "\nbroker RSS after the restart: middle third max {middle_max} KiB, last third max {last_max} KiB ({growth_pct:+.1}%)"
    );
    println!(
        "links that should open: {should_open}, opened: {opened}; revoked: {}, refused: {revoked_closed}",
        revoked.len()
    );
    println!("unexplained answers: {}", unexpected.len());
    for line in unexpected.iter().take(20) {
        println!("  {line}");
    }
    for line in &failures {
        println!("  FAILED {line}");
    }
    println!("report: {out}");
    let failed = !failures.is_empty() || !unexpected.is_empty() || opened != should_open;
    // Stop the processes (killed on drop) before exiting: `exit` runs no destructors.
    drop(broker);
    drop(Arc::try_unwrap(soak).ok());
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
