//! A link's life at its edges: disabling the skill long after the last use, revoking on one replica while
//! another holds cached answers, relinking afterwards, player writes across replicas, false revocations
//! survived and restored, and a refresh that outlives a graceful shutdown.

use std::time::{Duration, Instant};

use broker::startup::{Application, Migrations};
use broker::store::LinkStatus;
use e2e::{ALICE, BOB, Backend, TestBroker, spawn_broker, spawn_sandbox};
use reqwest::Method;
use spotify_sandbox::seed::{PlayerSeed, PlaylistSeed, RefreshMode, UserPatch};

use crate::proxy_support::{Answer, Skill, admin, link, spawn_replica, spotify_tokens};

both_backends!(
    disabling_the_skill_without_a_token_unlinks_the_bound_user,
    disabling_the_skill_with_an_expired_token_unlinks,
    stale_answers_are_not_served_for_spotify_refusals,
    one_refusal_is_confirmed_and_many_are_an_incident,
);

const ALEXA_USER: &str = "amzn1.ask.account.AEXAMPLEUSER";

/// Polls `check` every 50 ms until it holds, failing after `limit`.
async fn within<F, Fut>(limit: Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn restore(broker: &TestBroker, link_id: &str) -> Answer {
    admin(
        broker,
        Method::POST,
        &format!("/admin/links/{link_id}/restore"),
        &broker.admin_token,
    )
    .await
}

async fn status_of(broker: &TestBroker, link_id: &broker::domain::LinkId) -> LinkStatus {
    broker
        .store
        .link(link_id, None)
        .await
        .unwrap()
        .unwrap()
        .summary
        .status
}

async fn disabling_the_skill_without_a_token_unlinks_the_bound_user(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    // Any call carrying the user id binds it to the link.
    skill
        .call(
            Method::GET,
            "/v1/link",
            &[("x-alexa-user-id", ALEXA_USER)],
            None,
        )
        .await
        .expect_ok(200);

    // An hour later Alexa sends SkillDisabled without a usable token: the user id is enough.
    let disabled = skill
        .call(
            Method::POST,
            "/v1/link/revoke",
            &[("authorization", ""), ("x-alexa-user-id", ALEXA_USER)],
            None,
        )
        .await;
    assert_eq!(disabled.status, 204, "{}", disabled.body);
    assert_eq!(status_of(&broker, &link_id).await, LinkStatus::Revoked);
    assert!(
        broker
            .store
            .link(&link_id, None)
            .await
            .unwrap()
            .unwrap()
            .tokens
            .is_none(),
        "the spotify tokens are destroyed"
    );
    skill.get("/me").await.expect_error(401, "relink_required");

    // Redelivered, or for a user the broker never saw: acknowledged, nothing to do.
    for user in [ALEXA_USER, "amzn1.ask.account.SOMEONEELSE"] {
        let again = skill
            .call(
                Method::POST,
                "/v1/link/revoke",
                &[("authorization", ""), ("x-alexa-user-id", user)],
                None,
            )
            .await;
        assert_eq!(again.status, 204, "{}", again.body);
    }
    // Neither credential: a clear error.
    skill
        .call(
            Method::POST,
            "/v1/link/revoke",
            &[("authorization", "")],
            None,
        )
        .await
        .expect_error(400, "bad_request");
    // A malformed user id is refused, not stored.
    skill
        .call(
            Method::GET,
            "/v1/link",
            &[("x-alexa-user-id", "has spaces")],
            None,
        )
        .await
        .expect_error(400, "bad_request");
}

async fn disabling_the_skill_with_an_expired_token_unlinks(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);
    // The user has not spoken to the skill for longer than the token lives (an hour ago).
    sqlx::query("update broker_token set expires_at = $1 where kind = 'access'")
        .bind(broker::domain::UnixTime::now().plus_secs(-3600).as_secs())
        .execute(&broker.raw_pool().await)
        .await
        .unwrap();
    let broker_restarted = spawn_replica(&broker, &[]).await;
    let late = Skill::at(&broker_restarted.base_url, &broker, &pair.access_token);
    late.get("/me").await.expect_error(401, "relink_required");

    let disabled = late.call(Method::POST, "/v1/link/revoke", &[], None).await;
    assert_eq!(disabled.status, 204, "{}", disabled.body);
    assert_eq!(status_of(&broker, &link_id).await, LinkStatus::Revoked);
}

async fn stale_answers_are_not_served_for_spotify_refusals(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    skill.get("/me/player").await.expect_ok(200);
    // Player state is fresh for one second; then Spotify refuses (a 4xx is an answer, not an outage).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    client
        .update_user(
            ALICE,
            &UserPatch {
                registered: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    skill
        .get("/me/player")
        .await
        .expect_error(403, "app_not_permitted");
}

async fn one_refusal_is_confirmed_and_many_are_an_incident(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[
            ("spotify.relink_incident_threshold", "1"),
            ("spotify.invalid_grant_confirm_ms", "100"),
        ],
    )
    .await;
    let client = &broker.sandbox.client;
    let (alice, alice_link) = link(&broker, ALICE).await;
    let (bob, bob_link) = link(&broker, BOB).await;
    for user in [ALICE, BOB] {
        client.revoke_grant(user).await.unwrap();
        client.expire_access_tokens(user).await.unwrap();
    }
    Skill::new(&broker, &alice.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
    assert_eq!(
        status_of(&broker, &alice_link).await,
        LinkStatus::RelinkRequired
    );

    // A second link refused within the minute: an upstream incident; the link is not marked.
    Skill::new(&broker, &bob.access_token)
        .get("/me")
        .await
        .expect_error(503, "upstream_unavailable");
    assert_eq!(status_of(&broker, &bob_link).await, LinkStatus::Active);
    let held_back: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where link_id = $1 and action = 'relink_held_back'",
    )
    .bind(bob_link.to_string())
    .fetch_one(&broker.raw_pool().await)
    .await
    .unwrap();
    assert_eq!(held_back, 1);

    // An operator restores the marked link (its tokens were kept); an active one is a conflict.
    let restored = restore(&broker, &alice_link.to_string()).await;
    assert_eq!(restored.status, 204, "{}", restored.body);
    assert_eq!(status_of(&broker, &alice_link).await, LinkStatus::Active);
    restore(&broker, &bob_link.to_string())
        .await
        .expect_error(409, "conflict");
    restore(&broker, "00000000-0000-4000-8000-000000000000")
        .await
        .expect_error(404, "not_found");
}

/// Revoking on one replica drops what another replica cached for the link, and after a relink of the
/// same Spotify account the other replica answers from Spotify, never with the old answers.
#[tokio::test]
async fn revoke_on_one_replica_drops_cached_answers_on_another_and_relink_starts_fresh() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let replica = spawn_replica(&broker, &[]).await;
    let other = Skill::at(&replica.base_url, &broker, &pair.access_token);
    let before = other.get("/me/playlists").await;
    before.expect_ok(200);
    assert_eq!(other.get("/me/playlists").await.cache(), "hit");

    let revoked = admin(
        &broker,
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
        &broker.admin_token,
    )
    .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    within(
        Duration::from_secs(1),
        "the revoke reaches the other replica",
        || async { other.get("/me/playlists").await.status == 401 },
    )
    .await;

    broker
        .sandbox
        .client
        .set_playlists(
            ALICE,
            &[PlaylistSeed {
                id: "newlist0000000000000001".to_owned(),
                name: "After the relink".to_owned(),
                description: String::new(),
                public: false,
                collaborative: false,
                tracks: Vec::new(),
            }],
        )
        .await
        .unwrap();
    let (relinked, again) = link(&broker, ALICE).await;
    assert_eq!(again, link_id, "a relink keeps the link id");
    let fresh = Skill::at(&replica.base_url, &broker, &relinked.access_token)
        .get("/me/playlists")
        .await;
    fresh.expect_ok(200);
    assert_eq!(fresh.cache(), "miss", "{}", fresh.body);
    assert!(fresh.body.contains("After the relink"), "{}", fresh.body);
    assert_ne!(fresh.body, before.body);
}

/// A link marked as needing relink on one replica reads so on the others within a second.
#[tokio::test]
async fn relink_required_and_restore_are_seen_by_other_replicas() {
    let broker = spawn_broker(
        Backend::Postgres,
        spawn_sandbox().await,
        &[("spotify.invalid_grant_confirm_ms", "100")],
    )
    .await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let replica = spawn_replica(&broker, &[]).await;
    let other = Skill::at(&replica.base_url, &broker, &pair.access_token);
    let status = |skill: Skill| async move {
        skill.call(Method::GET, "/v1/link", &[], None).await.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(status(other.clone()).await, "active");

    let client = &broker.sandbox.client;
    client.revoke_grant(ALICE).await.unwrap();
    client.expire_access_tokens(ALICE).await.unwrap();
    Skill::new(&broker, &pair.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
    within(
        Duration::from_secs(1),
        "the mark reaches the other replica",
        || {
            let other = other.clone();
            async move { status(other).await == "relink_required" }
        },
    )
    .await;

    let restored = restore(&broker, &link_id.to_string()).await;
    assert_eq!(restored.status, 204, "{}", restored.body);
    within(
        Duration::from_secs(1),
        "the restore reaches the other replica",
        || {
            let other = other.clone();
            async move { status(other).await == "active" }
        },
    )
    .await;
}

/// A player command through one replica makes the other replica's cached player state go away, so the
/// next read there asks Spotify.
#[tokio::test]
async fn a_player_command_on_one_replica_drops_player_state_on_another() {
    let long_player_cache = [("cache.fresh_s.player", "60")];
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &long_player_cache).await;
    let (pair, _) = link(&broker, ALICE).await;
    let client = &broker.sandbox.client;
    let mut player: PlayerSeed = client.player(ALICE).await.unwrap();
    player.is_playing = true;
    client.set_player(ALICE, &player).await.unwrap();
    let replica = spawn_replica(&broker, &long_player_cache).await;
    let other = Skill::at(&replica.base_url, &broker, &pair.access_token);
    let playing = other.get("/me/player").await;
    playing.expect_ok(200);
    assert_eq!(playing.json()["is_playing"], true);
    assert_eq!(other.get("/me/player").await.cache(), "hit");

    let paused = Skill::new(&broker, &pair.access_token)
        .put("/me/player/pause")
        .await;
    assert!(paused.status < 300, "{}", paused.body);
    within(
        Duration::from_secs(1),
        "the pause reaches the other replica",
        || {
            let other = other.clone();
            async move {
                let answer: Answer = other.get("/me/player").await;
                answer.status == 200 && answer.json()["is_playing"] == false
            }
        },
    )
    .await;
}

/// SIGTERM while a refresh is waiting on Spotify: the broker stops serving but first stores what
/// Spotify answered, so a rotated refresh token is never lost.
#[tokio::test]
async fn graceful_shutdown_waits_for_a_refresh_under_way() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let client = &broker.sandbox.client;
    client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    client.expire_access_tokens(ALICE).await.unwrap();
    // The broker's copy says so too, so that the next call refreshes first.
    sqlx::query("update link set spotify_access_expires_at = 1")
        .execute(&broker.raw_pool().await)
        .await
        .unwrap();
    let (_, old_refresh) = spotify_tokens(&broker, &pair.access_token).await;

    let settings = broker.replica_settings(&[]).unwrap();
    let app = Application::build(settings, Migrations::Skip)
        .await
        .unwrap();
    let base_url = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    let serving = tokio::spawn(app.run_until_stopped());
    let replica = Skill::at(&base_url, &broker, &pair.access_token);

    client.set_latency(1500).await.unwrap();
    // The caller gives up after 200 ms; the refresh goes on.
    let answer = replica.get_within("/me", 200).await;
    assert!(answer.status >= 500, "{}", answer.body);
    handle.stop(true).await;
    serving.await.unwrap().unwrap();
    client.set_latency(0).await.unwrap();

    let (_, new_refresh) = spotify_tokens(&broker, &pair.access_token).await;
    assert_ne!(
        new_refresh, old_refresh,
        "the rotated refresh token was stored before the process ended"
    );
    Skill::new(&broker, &pair.access_token)
        .get("/me")
        .await
        .expect_ok(200);
}
