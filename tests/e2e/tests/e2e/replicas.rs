//! Three `broker serve` processes and one `skill serve` on loopback against one Postgres database act as
//! one broker: links, refreshes, revocations, rate-limit pauses, crashes, graceful stops (the skill's
//! too) and a rolling restart, each shown with requests spread over the three.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::process::{Cluster, SKILL_ID, free_port};
use e2e::{ALICE, BOB, spawn_sandbox};
use reqwest::{Method, StatusCode};
use skill::test_support::AlexaRequest;

async fn three_replicas() -> Cluster {
    Cluster::start(spawn_sandbox().await, 3, None, &[]).await
}

fn bases(cluster: &Cluster) -> Vec<String> {
    cluster.brokers.iter().map(|b| b.base_url()).collect()
}

/// A link made through one replica (consent started on the first, Spotify's redirect delivered to the
/// second, the code exchanged on the third) works through every replica, through the skill, and across
/// a refresh grant on another replica; a refresh storm over all three then makes one Spotify token call
/// per link.
#[tokio::test]
async fn a_link_made_through_one_replica_works_through_all_and_a_refresh_storm_refreshes_once() {
    let mut cluster = three_replicas().await;
    let b = bases(&cluster);
    let code = cluster.link_code(ALICE, &b[0], &b[1]).await;
    let alice = cluster.exchange(&b[2], &code).await;
    let code = cluster.link_code(BOB, &b[1], &b[2]).await;
    let bob = cluster.exchange(&b[0], &code).await;
    for base in &b {
        for token in [&alice.access_token, &bob.access_token] {
            let (status, body) = cluster.spotify_get(base, token, "/me").await.unwrap();
            assert_eq!(status, StatusCode::OK, "{base}: {body}");
        }
    }
    let refreshed = cluster.refresh(&b[1], &alice.refresh_token).await;
    let (status, body) = cluster
        .spotify_get(&b[2], &refreshed.access_token, "/me/player/devices")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    // The skill, against one replica, holds a conversation for the user linked through the others.
    let skill = cluster.start_skill(&b[1]).await;
    let request = AlexaRequest::new(SKILL_ID)
        .linked(&alice.access_token)
        .intent("ListPlaylistsIntent", &[]);
    let answer: serde_json::Value = cluster
        .http
        .post(format!("{skill}/alexa"))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let speech = answer["response"]["outputSpeech"]["ssml"].to_string();
    assert!(
        !speech.contains("link") && speech.len() > 20,
        "the skill answers from Spotify: {answer}"
    );

    // Refresh storm: Spotify refuses both links' access tokens; 60 distinct requests over all three
    // replicas at once.
    let client = &cluster.sandbox.client;
    client.expire_access_tokens(ALICE).await.unwrap();
    client.expire_access_tokens(BOB).await.unwrap();
    client.reset_counters().await.unwrap();
    let cluster = Arc::new(cluster);
    let tokens = [alice.access_token.clone(), bob.access_token.clone()];
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let cluster = Arc::clone(&cluster);
            let base = b[i % 3].clone();
            let token = tokens[i % 2].clone();
            tokio::spawn(async move {
                cluster
                    .spotify_get(
                        &base,
                        &token,
                        &format!("/search?q=storm&type=track&offset={i}"),
                    )
                    .await
            })
        })
        .collect();
    for call in calls {
        let (status, body) = call.await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let counters = cluster.sandbox.client.counters().await.unwrap();
    assert_eq!(
        counters.token_calls("refresh_token"),
        2,
        "one refresh per link over three processes: {counters:?}"
    );
}

/// An admin revoke on one replica's admin listener is honoured by all three within a second, including
/// by the replicas that had the link's answers cached.
#[tokio::test]
async fn an_admin_revoke_on_one_replica_is_honoured_by_all_within_a_second() {
    let cluster = three_replicas().await;
    let b = bases(&cluster);
    let code = cluster.link_code(ALICE, &b[0], &b[0]).await;
    let alice = cluster.exchange(&b[0], &code).await;
    for base in &b {
        for _ in 0..2 {
            let (status, _) = cluster
                .spotify_get(base, &alice.access_token, "/me")
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
        }
    }
    let link_id = cluster.link_id_of(ALICE).await;
    let revoked_at = Instant::now();
    let response = cluster
        .admin(
            Method::DELETE,
            &cluster.brokers[1].admin_url(),
            &format!("/admin/links/{link_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let mut honoured = [None; 3];
    while honoured.iter().any(Option::is_none) && revoked_at.elapsed() < Duration::from_secs(3) {
        for (i, base) in b.iter().enumerate() {
            if honoured[i].is_none() {
                let (status, body) = cluster
                    .spotify_get(base, &alice.access_token, "/me")
                    .await
                    .unwrap();
                if status == StatusCode::UNAUTHORIZED {
                    assert!(body.contains("relink_required"), "{body}");
                    honoured[i] = Some(revoked_at.elapsed());
                } else {
                    assert_eq!(status, StatusCode::OK, "{body}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (i, when) in honoured.iter().enumerate() {
        let when = when.unwrap_or_else(|| panic!("replica {i} still answers for the revoked link"));
        assert!(
            when < Duration::from_secs(1),
            "replica {i} honoured the revoke after {when:?}"
        );
    }
}

/// A Spotify 429 seen by one replica pauses all three: the others answer `rate_limited` without calling
/// Spotify.
#[tokio::test]
async fn a_rate_limit_seen_by_one_replica_pauses_all_three() {
    let cluster = three_replicas().await;
    let b = bases(&cluster);
    let code = cluster.link_code(ALICE, &b[0], &b[0]).await;
    let alice = cluster.exchange(&b[0], &code).await;
    let client = &cluster.sandbox.client;
    client.rate_limit_next(1, 30).await.unwrap();
    let (status, body) = cluster
        .spotify_get(&b[0], &alice.access_token, "/me/player/devices")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");

    let before = client.counters().await.unwrap();
    let started = Instant::now();
    for base in &b[1..] {
        // Within the time the pause takes to reach the others, a request may still go out; after it,
        // none does.
        for n in 0.. {
            // Distinct queries: a cached answer may be served during a pause, an upstream call not.
            let (status, body) = cluster
                .spotify_get(
                    base,
                    &alice.access_token,
                    &format!("/me/playlists?limit=7&offset={n}"),
                )
                .await
                .unwrap();
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert!(body.contains("rate_limited"), "{body}");
                break;
            }
            // The others read pauses from the store every 500 ms.
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "{base} did not pause: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let paused = client.counters().await.unwrap();
    for base in &b {
        let (status, _) = cluster
            .spotify_get(base, &alice.access_token, "/search?q=paused&type=track")
            .await
            .unwrap();
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let after = client.counters().await.unwrap();
    assert_eq!(
        paused.api_total, after.api_total,
        "no replica calls Spotify during the pause: {paused:?} {after:?}"
    );
    assert!(
        before.api_total <= paused.api_total,
        "{before:?} {paused:?}"
    );
}

/// Requests spread over the three replicas, with a client that retries a failed connection on the next
/// replica, all complete although one replica is SIGKILLed in the middle; the SIGTERMed one first
/// finishes the requests it has in flight (Spotify made slow so that they are), then exits cleanly.
#[tokio::test]
async fn sigkill_costs_no_request_a_retrying_client_cannot_complete_and_sigterm_drains() {
    let mut cluster = three_replicas().await;
    let b = bases(&cluster);
    let code = cluster.link_code(ALICE, &b[0], &b[2]).await;
    let alice = cluster.exchange(&b[1], &code).await;
    // Spotify slow, so that the requests are in flight at the broker (each has reached the sandbox) when
    // SIGTERM comes. A request the broker has not accepted by then is refused, as it should be.
    cluster.sandbox.client.set_latency(1500).await.unwrap();
    cluster.sandbox.client.reset_counters().await.unwrap();

    // SIGTERM while requests are in flight: every one of them is answered.
    let cluster_ref = &cluster;
    let in_flight: Vec<_> = (0..6)
        .map(|i| {
            let base = b[2].clone();
            let token = alice.access_token.clone();
            async move {
                cluster_ref
                    .spotify_get(
                        &base,
                        &token,
                        &format!("/search?q=drain&type=track&offset={i}"),
                    )
                    .await
            }
        })
        .collect();
    let requests = futures::future::join_all(in_flight);
    let terminate = async {
        let started = std::time::Instant::now();
        while cluster_ref
            .sandbox
            .client
            .counters()
            .await
            .unwrap()
            .api_arrived
            < 6
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the requests never reached spotify"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster_ref.brokers[2].process.terminate();
    };
    let (answers, ()) = tokio::join!(requests, terminate);
    for answer in answers {
        let (status, body) = answer.expect("an in-flight request is answered, not cut");
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Within `server.shutdown_timeout_s` (10 s) and the exit after it, with room for a loaded machine.
    let status = cluster.brokers[2]
        .process
        .wait(Duration::from_secs(30))
        .await;
    assert!(status.success(), "SIGTERM ends in a clean exit: {status}");
    assert!(
        cluster
            .spotify_get(&b[2], &alice.access_token, "/me")
            .await
            .is_err(),
        "a stopped replica takes no new connection"
    );
    let port = cluster.brokers[2].port;
    let admin_port = cluster.brokers[2].admin_port;
    cluster.brokers[2] = cluster.start_broker(2, port, admin_port).await;
    cluster.sandbox.client.set_latency(20).await.unwrap();

    // SIGKILL mid-load.
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let retried = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let cluster = Arc::clone(&cluster);
            let (stop, retried) = (Arc::clone(&stop), Arc::clone(&retried));
            let (b, token) = (b.clone(), alice.access_token.clone());
            tokio::spawn(async move {
                let mut done = 0usize;
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    n += 6;
                    let path = format!("/search?q=load&type=track&offset={n}");
                    let mut tries = 0;
                    loop {
                        match cluster
                            .spotify_get(&b[(n + tries) % 3], &token, &path)
                            .await
                        {
                            Ok((status, body)) => {
                                assert_eq!(status, StatusCode::OK, "{body}");
                                break;
                            }
                            Err(_) if tries < 2 => {
                                tries += 1;
                                retried.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(err) => panic!("no replica completed {path}: {err}"),
                        }
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = cluster.brokers[0].process.pid();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    let mut completed = 0;
    for worker in workers {
        completed += worker.await.expect("a client gave up on a request");
    }
    assert!(completed > 30, "load ran: {completed} requests");
    assert!(
        retried.load(Ordering::Relaxed) > 0,
        "some requests met the killed replica and were retried"
    );
}

/// Every replica restarted in turn (SIGTERM, wait, start) while a client keeps using the link through
/// the others: no request is lost, and afterwards the link, the access token and the refresh token all
/// still work on every replica.
#[tokio::test]
async fn a_rolling_restart_loses_no_link_and_no_token() {
    let mut cluster = three_replicas().await;
    let b = bases(&cluster);
    let code = cluster.link_code(ALICE, &b[0], &b[1]).await;
    let alice = cluster.exchange(&b[2], &code).await;
    let code = cluster.link_code(BOB, &b[2], &b[0]).await;
    let bob = cluster.exchange(&b[1], &code).await;

    let service_token = cluster.service_token.clone();
    for i in 0..3 {
        // Meanwhile: requests to the two replicas that stay up.
        let others: Vec<String> = (0..3).filter(|j| *j != i).map(|j| b[j].clone()).collect();
        let http = reqwest::Client::new();
        let (service_token, token) = (service_token.clone(), alice.access_token.clone());
        let load = async move {
            for n in 0..10 {
                let response = http
                    .get(format!("{}/v1/spotify/me", others[n % 2]))
                    .bearer_auth(&token)
                    .header("X-Service-Token", &service_token)
                    .send()
                    .await
                    .expect("a replica that stays up answers");
                assert_eq!(response.status(), StatusCode::OK);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::join!(cluster.restart_broker(i), load);
    }
    for base in &b {
        for token in [&alice.access_token, &bob.access_token] {
            let (status, body) = cluster
                .spotify_get(base, token, "/me/player/devices")
                .await
                .unwrap();
            assert_eq!(
                status,
                StatusCode::OK,
                "{base}: {body}\n{}",
                cluster.outputs()
            );
        }
    }
    let alice2 = cluster.refresh(&b[0], &alice.refresh_token).await;
    let bob2 = cluster.refresh(&b[2], &bob.refresh_token).await;
    for (base, token) in [(&b[1], &alice2.access_token), (&b[1], &bob2.access_token)] {
        let (status, body) = cluster.spotify_get(base, token, "/me").await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// SIGTERM to the skill while conversations wait on Spotify (made slow): every one of them is answered
/// from Spotify, then the skill exits cleanly and takes no new connection. Before the skill counted its
/// requests under way, actix-server could let a worker quit with them (as it did the broker's).
#[tokio::test]
async fn sigterm_lets_the_skill_finish_the_conversations_under_way() {
    let mut cluster = Cluster::start(spawn_sandbox().await, 1, None, &[]).await;
    let base = cluster.brokers[0].base_url();
    let code = cluster.link_code(ALICE, &base, &base).await;
    let alice = cluster.exchange(&base, &code).await;
    let skill = cluster.start_skill(&base).await;
    cluster.sandbox.client.set_latency(1500).await.unwrap();
    cluster.sandbox.client.reset_counters().await.unwrap();

    // Six different searches, so that none is coalesced with another: each is under way at the skill
    // once its search has reached Spotify.
    let asks: Vec<_> = (0..6)
        .map(|i| {
            let request = AlexaRequest::new(SKILL_ID)
                .linked(&alice.access_token)
                .intent("PlaySongIntent", &[("query", &format!("drain song {i}"))]);
            cluster
                .http
                .post(format!("{skill}/alexa"))
                .json(&request)
                .send()
        })
        .collect();
    let answers = futures::future::join_all(asks);
    let terminate = async {
        let started = Instant::now();
        while cluster.sandbox.client.counters().await.unwrap().api_arrived < 6 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the searches never reached spotify"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (skill, _) = cluster.skill.as_ref().expect("the skill runs");
        skill.terminate();
    };
    let (answers, ()) = tokio::join!(answers, terminate);
    for answer in answers {
        let answer = answer.expect("a conversation under way is answered, not cut");
        assert_eq!(answer.status(), StatusCode::OK);
        let body: serde_json::Value = answer.json().await.unwrap();
        let speech = body["response"]["outputSpeech"]["ssml"].to_string();
        for failure in ["taking too long", "trouble reaching", "couldn't reach"] {
            assert!(!speech.contains(failure), "answered from Spotify: {body}");
        }
    }
    let (mut skill_process, _) = cluster.skill.take().expect("the skill ran");
    let status = skill_process.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM ends in a clean exit: {status}");
    assert!(
        cluster
            .http
            .get(format!("{skill}/healthz"))
            .send()
            .await
            .is_err(),
        "a stopped skill takes no new connection"
    );
}

/// The harness takes a replica for ready only once it says it listens on its own port: another server's
/// ready answer on a port the replica could not bind does not count. (Ports are picked free, then bound,
/// and two tests once picked the same one: a replica that had exited was taken for started, and the
/// test failed later with "connection refused".)
#[tokio::test]
async fn a_replica_that_could_not_bind_its_port_is_not_taken_for_ready() {
    let cluster = Cluster::start(spawn_sandbox().await, 1, None, &[]).await;
    let taken = cluster.brokers[0].port;
    let second = tokio::spawn(async move {
        cluster.start_broker(1, taken, free_port()).await;
    })
    .await;
    let panic = second.expect_err("a replica whose port is taken is not ready");
    let message = panic.into_panic();
    let message = message
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(message.contains("broker-1 exited"), "{message}");
}
