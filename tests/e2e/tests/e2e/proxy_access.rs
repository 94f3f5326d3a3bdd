//! Who may reach Spotify through the broker, and what they learn: the allowlist, both credentials,
//! revocation (admin, user, across replicas), link status, Spotify's refusals as normalized errors, and no
//! Spotify token in any answer or log line.

use std::time::{Duration, Instant};

use broker::domain::UnixTime;
use broker::store::LinkStatus;
use e2e::{ALICE, Backend, LogCapture, spawn_broker, spawn_sandbox};
use reqwest::Method;
use serde_json::json;
use spotify_sandbox::demo::LAPTOP_DEVICE;
use spotify_sandbox::{DeviceSeed, PlayerSeed, Product, RefreshMode, UserPatch};

use crate::proxy_support::{Skill, admin, link, raw_request, spawn_replica, spotify_tokens};

both_backends!(
    allowlist_escapes_are_refused_without_upstream_call,
    both_credentials_are_checked,
    admin_revoke_stops_the_next_request_even_when_cached,
    user_revoke_leaves_the_link_revoked,
    link_status_reports_the_relink_deadline,
    spotify_refusals_map_to_normalized_errors,
    no_spotify_token_in_any_answer_or_log,
);

async fn allowlist_escapes_are_refused_without_upstream_call(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);
    let before = broker.sandbox.client.counters().await.unwrap();

    let bearer = format!("Bearer {}", pair.access_token);
    let headers = [
        ("Authorization", bearer.as_str()),
        ("X-Service-Token", broker.service_token.as_str()),
    ];
    let escapes = [
        ("GET", "/v1/spotify/me/player/../../users/x"),
        ("GET", "/v1/spotify/me/player/%2e%2e/%2e%2e/users/x"),
        ("GET", "/v1/spotify/me/player/%2E%2E/%2E%2E/users/x"),
        ("GET", "/v1/spotify/%2e%2e/users/x"),
        ("GET", "/v1/spotify/users/x"),
        ("GET", "/v1/spotify/users/x/playlists"),
        ("DELETE", "/v1/spotify/me/player"),
        ("POST", "/v1/spotify/me/player/play"),
        ("GET", "/v1/spotify//me"),
        ("GET", "/v1/spotify/me/"),
        ("GET", "/v1/spotify/me/player/devices/"),
        ("GET", "/v1/spotify/me%2Fplayer"),
        ("GET", "/v1/spotify/me%2fplayer%2fdevices"),
        ("GET", "/v1/spotify/me/player%2F..%2F..%2Fusers%2Fx"),
        ("GET", "/v1/spotify/me/./player"),
        ("GET", "/v1/spotify/m%65"),
        ("GET", "/v1/spotify/ME"),
        ("GET", "/v1/spotify"),
        ("GET", "/v1/spotify/"),
        ("GET", "/v1/spotifyme"),
        ("GET", "/v1/spotify/me;x=1"),
        ("GET", "/v1/users/x"),
    ];
    let mut wrong = Vec::new();
    for (method, target) in escapes {
        let (status, body) = raw_request(broker.port, method, target, &headers).await;
        let code = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        if (status, code.as_deref()) != (404, Some("not_found")) {
            wrong.push(format!("{method} {target} -> {status} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused as not_found:\n{}",
        wrong.join("\n")
    );
    let after = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(
        (before.api_total, before.token_total),
        (after.api_total, after.token_total),
        "no upstream call for a refused path"
    );
}

async fn both_credentials_are_checked(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    broker.sandbox.client.reset_counters().await.unwrap();

    for path in ["/v1/spotify/me", "/v1/link"] {
        let longer = format!("{}x", broker.service_token);
        for service in ["", "svc-wrong", longer.as_str()] {
            skill
                .call(Method::GET, path, &[("x-service-token", service)], None)
                .await
                .expect_error(401, "service_unauthorized");
        }
        let unknown = format!("bat_{}", "A".repeat(43));
        for bearer in [
            format!("Bearer {unknown}"),
            "Bearer not-a-broker-token".to_owned(),
            String::new(),
            format!("Basic {}", pair.access_token),
            format!("Bearer {}", pair.refresh_token),
        ] {
            skill
                .call(
                    Method::GET,
                    path,
                    &[("authorization", bearer.as_str())],
                    None,
                )
                .await
                .expect_error(401, "relink_required");
        }
    }
    // Admin credentials are not service credentials, and the other way round.
    skill
        .call(
            Method::GET,
            "/v1/spotify/me",
            &[("x-service-token", broker.admin_token.as_str())],
            None,
        )
        .await
        .expect_error(401, "service_unauthorized");
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(
        (counters.api_total, counters.token_total),
        (0, 0),
        "{counters:?}"
    );
    skill.get("/me").await.expect_ok(200);
}

async fn admin_revoke_stops_the_next_request_even_when_cached(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let (access, refresh) = spotify_tokens(&broker, &pair.access_token).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);
    assert_eq!(skill.get("/me").await.cache(), "hit");
    let path = format!("/admin/links/{link_id}");

    // Metadata only.
    let shown = admin(&broker, Method::GET, &path, &broker.admin_token).await;
    shown.expect_ok(200);
    let body = shown.json();
    assert_eq!(body["link_id"], link_id.to_string());
    assert_eq!(body["status"], "active");
    assert!(
        body.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("token") && !k.contains("secret")),
        "{body}"
    );
    assert!(!shown.body.contains(&access) && !shown.body.contains(&refresh));

    // Only with the admin token.
    for token in [broker.service_token.as_str(), "adm-wrong", ""] {
        admin(&broker, Method::DELETE, &path, token)
            .await
            .expect_error(401, "service_unauthorized");
        admin(&broker, Method::GET, &path, token)
            .await
            .expect_error(401, "service_unauthorized");
    }
    skill.get("/me").await.expect_ok(200);

    let revoked = admin(&broker, Method::DELETE, &path, &broker.admin_token).await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    broker.sandbox.client.reset_counters().await.unwrap();
    skill.get("/me").await.expect_error(401, "relink_required");
    skill
        .get("/me/player/devices")
        .await
        .expect_error(401, "relink_required");
    skill
        .call(Method::GET, "/v1/link", &[], None)
        .await
        .expect_error(401, "relink_required");
    let counters = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(counters.api_total, 0, "{counters:?}");

    let shown = admin(&broker, Method::GET, &path, &broker.admin_token).await;
    shown.expect_ok(200);
    assert_eq!(shown.json()["status"], "revoked");
    let stored = broker.store.link(&link_id, None).await.unwrap().unwrap();
    assert!(
        stored.tokens.is_none(),
        "revocation destroys the Spotify tokens"
    );
    admin(
        &broker,
        Method::DELETE,
        "/admin/links/not-a-link",
        &broker.admin_token,
    )
    .await
    .expect_error(400, "bad_request");
}

async fn user_revoke_leaves_the_link_revoked(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    skill.get("/me").await.expect_ok(200);

    let revoked = skill.call(Method::POST, "/v1/link/revoke", &[], None).await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    let stored = broker.store.link(&link_id, None).await.unwrap().unwrap();
    assert_eq!(stored.summary.status, LinkStatus::Revoked);
    assert!(stored.tokens.is_none());
    skill.get("/me").await.expect_error(401, "relink_required");
    skill
        .call(Method::GET, "/v1/link", &[], None)
        .await
        .expect_error(401, "relink_required");
    // Alexa redelivers events: a second revoke is acknowledged and changes nothing.
    let again = skill.call(Method::POST, "/v1/link/revoke", &[], None).await;
    assert_eq!(again.status, 204, "{}", again.body);
}

async fn link_status_reports_the_relink_deadline(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let answer = skill.call(Method::GET, "/v1/link", &[], None).await;
    answer.expect_ok(200);
    let body = answer.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "authorized_at",
            "display_name",
            "link_id",
            "relink_due_at",
            "status"
        ],
        "{body}"
    );
    assert_eq!(body["link_id"], link_id.to_string());
    assert_eq!(body["status"], "active");
    assert_eq!(body["display_name"], "Alice Example");
    let summary = broker.store.link_summary(&link_id).await.unwrap().unwrap();
    let authorized = summary.authorized_at;
    assert!((UnixTime::now().as_secs() - authorized.as_secs()).abs() < 60);
    assert_eq!(body["authorized_at"], authorized.to_rfc3339());
    assert_eq!(
        body["relink_due_at"],
        authorized.plus_secs(183 * 24 * 3600).to_rfc3339(),
        "relink is due 183 days after consent"
    );
}

async fn spotify_refusals_map_to_normalized_errors(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let skill = Skill::new(&broker, &pair.access_token);
    let client = &broker.sandbox.client;

    // Pausing a paused player: Spotify's 403 with reason UNKNOWN.
    assert!((200..300).contains(&skill.put("/me/player/pause").await.status));
    skill
        .put("/me/player/pause")
        .await
        .expect_error(403, "forbidden");

    // No active device.
    client
        .set_devices(ALICE, &[DeviceSeed::new("d0", "Old Radio")])
        .await
        .unwrap();
    client
        .set_player(ALICE, &PlayerSeed::default())
        .await
        .unwrap();
    skill
        .put("/me/player/play")
        .await
        .expect_error(404, "no_active_device");

    // Premium required (checked before the device).
    let free = UserPatch {
        product: Some(Product::Free),
        ..UserPatch::default()
    };
    client.update_user(ALICE, &free).await.unwrap();
    skill
        .put("/me/player/play")
        .await
        .expect_error(403, "premium_required");

    // The app is not registered for this user: the operator must act, relinking does not help.
    let unregistered = UserPatch {
        registered: Some(false),
        ..UserPatch::default()
    };
    client.update_user(ALICE, &unregistered).await.unwrap();
    skill
        .get("/me/player/devices")
        .await
        .expect_error(403, "app_not_permitted");
    skill
        .post("/me/player/next")
        .await
        .expect_error(403, "app_not_permitted");

    // A scope the grant lacks: new consent needed.
    let narrow = UserPatch {
        registered: Some(true),
        product: Some(Product::Premium),
        scopes: Some(vec!["user-read-private".to_owned()]),
        ..UserPatch::default()
    };
    client.update_user(ALICE, &narrow).await.unwrap();
    skill
        .get("/me/playlists")
        .await
        .expect_error(401, "relink_required");
}

async fn no_spotify_token_in_any_answer_or_log(backend: Backend) {
    let logs = LogCapture::start();
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let client = &broker.sandbox.client;
    client
        .set_refresh_mode(ALICE, RefreshMode::Rotate)
        .await
        .unwrap();
    let (pair, link_id) = link(&broker, ALICE).await;
    let mut secrets = Vec::new();
    let (access, refresh) = spotify_tokens(&broker, &pair.access_token).await;
    secrets.extend([access, refresh]);
    let skill = Skill::new(&broker, &pair.access_token);
    skill.remember(format!("{:?}\n{}", pair.headers, pair.body));

    for path in [
        "/me",
        "/me/player",
        "/me/player/currently-playing",
        "/me/player/devices",
        "/me/playlists?limit=2",
        "/search?q=jazz&type=track,playlist",
    ] {
        skill.get(path).await.expect_ok(200);
        skill.get(path).await;
    }
    for (method, path) in [
        (Method::PUT, "/me/player/pause"),
        (Method::PUT, "/me/player/play"),
        (Method::POST, "/me/player/next"),
        (Method::POST, "/me/player/previous"),
    ] {
        let answer = skill.spotify(method, path).await;
        assert!(
            (200..300).contains(&answer.status),
            "{}",
            answer.transcript()
        );
    }
    let transfer = skill
        .call(
            Method::PUT,
            "/v1/spotify/me/player",
            &[],
            Some(json!({"device_ids": [LAPTOP_DEVICE], "play": false})),
        )
        .await;
    assert!(
        (200..300).contains(&transfer.status),
        "{}",
        transfer.transcript()
    );
    skill
        .call(Method::GET, "/v1/link", &[], None)
        .await
        .expect_ok(200);
    skill
        .call(
            Method::GET,
            "/v1/spotify/me",
            &[("x-service-token", "nope")],
            None,
        )
        .await;
    skill.get("/users/alice").await;
    for path in [format!("/admin/links/{link_id}"), "/admin/links".to_owned()] {
        let shown = admin(&broker, Method::GET, &path, &broker.admin_token).await;
        shown.expect_ok(200);
        skill.remember(shown.transcript());
    }

    // A refresh (rotating both tokens), a Spotify failure, a 429.
    client.expire_access_tokens(ALICE).await.unwrap();
    skill
        .get("/me/player/devices?market=US")
        .await
        .expect_ok(200);
    let (access, refresh) = spotify_tokens(&broker, &pair.access_token).await;
    assert!(
        !secrets.contains(&refresh),
        "the refresh rotated the refresh token"
    );
    secrets.extend([access, refresh]);
    client.fail_next(3, 500, None).await.unwrap();
    skill.get("/search?q=so&type=track").await;
    client.rate_limit_next(1, 2).await.unwrap();
    skill.get("/me/player?market=US").await;

    // Revocation, and what follows.
    let revoked = skill.call(Method::POST, "/v1/link/revoke", &[], None).await;
    assert_eq!(revoked.status, 204);
    skill.get("/me").await;

    let transcripts = skill.transcripts();
    assert!(transcripts.len() > 25);
    for secret in &secrets {
        assert!(secret.len() > 20);
        for transcript in &transcripts {
            assert!(
                !transcript.contains(secret.as_str()),
                "a Spotify token leaked in a broker answer:\n{transcript}"
            );
        }
    }
    let captured = logs.contents();
    assert!(
        captured.contains("refreshing spotify access token"),
        "the capture holds the broker's log"
    );
    for line in captured.lines() {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a Spotify token leaked in the log: {line}"
            );
        }
    }
}

/// A revoke on one replica is seen by another (sharing one Postgres) within about a second, even for an
/// answer the other replica had cached.
#[tokio::test]
async fn revoke_on_one_replica_is_seen_by_another_within_a_second() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, link_id) = link(&broker, ALICE).await;
    let replica = spawn_replica(&broker, &[]).await;
    let other = Skill::at(&replica.base_url, &broker, &pair.access_token);
    other.get("/me").await.expect_ok(200);
    assert_eq!(other.get("/me").await.cache(), "hit");

    let revoked = admin(
        &broker,
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
        &broker.admin_token,
    )
    .await;
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    refused_within(&other, Duration::from_millis(1500)).await;
}

/// A broker token revoked through one replica (RFC 7009) stops working on another within about a
/// second, although the other had it resolved in memory.
#[tokio::test]
async fn token_revoked_on_one_replica_stops_working_on_another() {
    let broker = spawn_broker(Backend::Postgres, spawn_sandbox().await, &[]).await;
    let (pair, _) = link(&broker, ALICE).await;
    let replica = spawn_replica(&broker, &[]).await;
    let other = Skill::at(&replica.base_url, &broker, &pair.access_token);
    other.get("/me").await.expect_ok(200);

    assert_eq!(broker.revoke_token(&pair.access_token).await.status(), 200);
    refused_within(&other, Duration::from_millis(1500)).await;
}

/// Polls `GET /me` until it answers `relink_required`, failing if that takes longer than `limit`.
async fn refused_within(skill: &Skill, limit: Duration) {
    let start = Instant::now();
    loop {
        let answer = skill.get("/me").await;
        if answer.status == 401 {
            answer.expect_error(401, "relink_required");
            return;
        }
        answer.expect_ok(200);
        assert!(
            start.elapsed() < limit,
            "the other replica still accepts the revoked credential after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
