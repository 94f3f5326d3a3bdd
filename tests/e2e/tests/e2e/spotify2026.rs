//! The Spotify of 2026 through broker and sandbox: the quota's 429, a user not on the development-mode
//! allowlist refused at linking, the owner's Premium lapsing as one incident across replicas, and the
//! endpoints the new conversations use.

use std::time::Duration;

use e2e::{ALICE, BOB, Backend, TestBroker, spawn_broker, spawn_sandbox};
use reqwest::{Method, StatusCode};
use spotify_sandbox::demo::JAZZ_PLAYLIST;
use spotify_sandbox::{AppPatch, UserSeed};

use super::proxy_support::{Skill, admin, link, spawn_replica};

/// A user who can consent but is not on the app's allowlist.
const OUTSIDER: &str = "olga";

async fn app_view(broker: &TestBroker) -> serde_json::Value {
    admin(broker, Method::GET, "/admin/app", &broker.admin_token)
        .await
        .expect_ok(200)
        .json()
}

fn owner_premium(active: bool) -> AppPatch {
    AppPatch {
        owner_premium: Some(active),
        ..AppPatch::default()
    }
}

async fn quota_exceeded_pauses_calls_like_a_rate_limit(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;
    client.quota_exceeded_next(1, Some(9)).await.unwrap();

    let limited = skill.get("/me/player/devices").await;
    assert_eq!(limited.expect_error(429, "quota_exceeded"), Some(9));
    assert_eq!(limited.header("retry-after"), Some("9"));
    let before = client.counters().await.unwrap();
    for answer in [
        skill.get("/me").await,
        skill.put("/me/player/pause").await,
        skill.put("/me/player/volume?volume_percent=20").await,
    ] {
        let retry_after_s = answer.expect_error(429, "quota_exceeded").unwrap();
        assert!((1..=9).contains(&retry_after_s), "{}", answer.body);
    }
    let after = client.counters().await.unwrap();
    assert_eq!(
        before.api_total, after.api_total,
        "no upstream call while the quota is used up"
    );
    let app = app_view(&broker).await;
    assert!(app["quota_exceeded_until"].is_u64(), "{app}");
    assert!(app["rate_limited_until"].is_null(), "{app}");
}

/// The quota's pause reaches the other replicas, and is named as the quota there too.
#[tokio::test]
async fn quota_pause_reaches_other_replicas() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let other = spawn_replica(&broker, &[]).await;
    let here = Skill::new(&broker, &pair.access_token);
    let there = Skill::at(&other.base_url, &broker, &pair.access_token);
    there.get("/me").await.expect_ok(200);
    let client = &broker.sandbox.client;
    client.quota_exceeded_next(1, Some(30)).await.unwrap();
    here.get("/me/player/devices")
        .await
        .expect_error(429, "quota_exceeded");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = client.counters().await.unwrap();
    there
        .post("/me/player/next")
        .await
        .expect_error(429, "quota_exceeded");
    let after = client.counters().await.unwrap();
    assert_eq!(before.api_total, after.api_total);
}

async fn user_not_on_the_allowlist_is_refused_at_linking(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let outsider = UserSeed {
        registered: false,
        ..UserSeed::new(OUTSIDER)
    };
    broker.sandbox.client.seed_user(&outsider).await.unwrap();
    let started = broker
        .start_authorization(&broker.authorize_params("alexa-state"))
        .await;
    let back = broker
        .consent_at_spotify(&started.to_spotify, Some(OUTSIDER))
        .await;
    let response = broker
        .http
        .get(&back)
        .header(reqwest::header::COOKIE, &started.cookie)
        .header(reqwest::header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers().get("location").is_none(),
        "no code for Alexa"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("User Management"), "{page}");
    assert!(
        broker.store.list_links(None, 10).await.unwrap().is_empty(),
        "no link that cannot work"
    );
    let app = app_view(&broker).await;
    assert_eq!(
        app["recent_refusals"][0]["reason"], "user_not_registered",
        "{app}"
    );
    assert_eq!(app["development_mode_seats"]["used"], 0, "{app}");
    assert_eq!(app["development_mode_seats"]["limit"], 5, "{app}");
    assert!(
        !app.to_string().contains(OUTSIDER),
        "the refused user's id is not kept: {app}"
    );
    link(&broker, ALICE).await;
    link(&broker, BOB).await;
    assert_eq!(app_view(&broker).await["development_mode_seats"]["used"], 2);
}

/// The owner's Premium lapsing is one app-wide incident: recognised once, answered at once on every
/// replica for every link, and over everywhere once a probe finds Spotify serving the app again.
#[tokio::test]
async fn owner_premium_lapse_is_one_incident_across_replicas() {
    let probe = [("proxy.app_incident_probe_s", "2")];
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &probe).await;
    let (alice, _) = link(&broker, ALICE).await;
    let (bob, _) = link(&broker, BOB).await;
    let other = spawn_replica(&broker, &probe).await;
    let here = Skill::new(&broker, &alice.access_token);
    let there = Skill::at(&other.base_url, &broker, &bob.access_token);
    there.get("/me/player/devices").await.expect_ok(200);
    let client = &broker.sandbox.client;

    client.update_app(&owner_premium(false)).await.unwrap();
    here.put("/me/player/pause")
        .await
        .expect_error(403, "app_not_permitted");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = client.counters().await.unwrap();
    for answer in [
        here.get("/me/player/devices").await,
        here.post("/me/player/next").await,
        there.get("/me").await,
        there.put("/me/player/shuffle?state=true").await,
    ] {
        answer.expect_error(403, "app_not_permitted");
    }
    let after = client.counters().await.unwrap();
    assert_eq!(
        before.api_total, after.api_total,
        "no link calls Spotify during the incident"
    );
    let app = app_view(&broker).await;
    assert!(app["owner_premium_incident_since"].is_u64(), "{app}");

    // Renewed: after the probe interval one request goes through, succeeds, and ends the incident
    // here at once and on the other replica within a poll.
    client.update_app(&owner_premium(true)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    here.get("/me").await.expect_ok(200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    there.get("/me/player/devices").await.expect_ok(200);
    assert!(app_view(&broker).await["owner_premium_incident_since"].is_null());
}

async fn new_conversation_endpoints_are_forwarded(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;

    let state = skill.get("/me/player").await.expect_ok(200).json();
    assert_eq!(state["device"]["volume_percent"], 50);
    skill
        .put("/me/player/volume?volume_percent=30")
        .await
        .expect_ok(204);
    skill
        .put("/me/player/shuffle?state=true")
        .await
        .expect_ok(204);
    skill
        .put("/me/player/repeat?state=track")
        .await
        .expect_ok(204);
    skill
        .post("/me/player/queue?uri=spotify:track:3n3Ppam7vgaVa1iaRUc9Lp")
        .await
        .expect_ok(204);
    let state = skill.get("/me/player").await;
    state.expect_ok(200);
    assert_ne!(
        state.cache(),
        "hit",
        "a player write drops cached player state"
    );
    let state = state.json();
    assert_eq!(state["device"]["volume_percent"], 30);
    assert_eq!(state["shuffle_state"], true);
    assert_eq!(state["repeat_state"], "track");
    let player = client.player(ALICE).await.unwrap();
    assert_eq!(player.queue[1], "spotify:track:3n3Ppam7vgaVa1iaRUc9Lp");

    let items = skill
        .get(&format!("/playlists/{JAZZ_PLAYLIST}/items"))
        .await
        .expect_ok(200)
        .json();
    assert_eq!(items["items"][0]["item"]["name"], "So What");
    for path in [
        format!("/playlists/{JAZZ_PLAYLIST}/tracks"),
        "/playlists/short/items".to_owned(),
        format!("/playlists/{JAZZ_PLAYLIST}x/items"),
    ] {
        skill.get(&path).await.expect_error(404, "not_found");
    }
    skill
        .spotify(Method::DELETE, "/me/player/queue")
        .await
        .expect_error(404, "not_found");
}

both_backends!(
    quota_exceeded_pauses_calls_like_a_rate_limit,
    user_not_on_the_allowlist_is_refused_at_linking,
    new_conversation_endpoints_are_forwarded,
);

/// The app-wide rows on both backends: the newest incident change wins, refusals have no link.
async fn app_incident_and_refusals_in_the_store(backend: Backend) {
    use broker::domain::UnixTime;
    use broker::store::AppIncidentRecord;

    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let store = &broker.store;
    assert_eq!(store.app_incident().await.unwrap(), None);
    let began = AppIncidentRecord {
        since_ms: Some(1_000),
        changed_ms: 1_000,
    };
    store.record_app_incident(began).await.unwrap();
    let stale_end = AppIncidentRecord {
        since_ms: None,
        changed_ms: 999,
    };
    store.record_app_incident(stale_end).await.unwrap();
    assert_eq!(
        store.app_incident().await.unwrap(),
        Some(began),
        "older loses"
    );
    let ended = AppIncidentRecord {
        since_ms: None,
        changed_ms: 2_000,
    };
    store.record_app_incident(ended).await.unwrap();
    assert_eq!(store.app_incident().await.unwrap(), Some(ended));

    store
        .record_app_refusal("user_not_registered", UnixTime::from_secs(10))
        .await
        .unwrap();
    store
        .record_app_refusal("owner_lacks_premium", UnixTime::from_secs(20))
        .await
        .unwrap();
    let refusals = store.recent_app_refusals(1).await.unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].reason, "owner_lacks_premium");
    assert_eq!(refusals[0].at, 20);
    store
        .record_quota_pause(5_000, UnixTime::from_secs(1))
        .await
        .unwrap();
    store
        .record_quota_pause(4_000, UnixTime::from_secs(1))
        .await
        .unwrap();
    assert_eq!(store.quota_pause_until().await.unwrap(), Some(5_000));
    assert_eq!(
        store.rate_limit_pause_until().await.unwrap(),
        None,
        "the quota's pause is its own row"
    );
}

both_backends!(app_incident_and_refusals_in_the_store);
