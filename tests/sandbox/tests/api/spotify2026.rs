//! The Spotify of 2026: development mode's five seats and owner Premium, the quota's 429, playlist
//! `items`, and the player settings the new conversations use.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spotify_sandbox::demo::{JAZZ_PLAYLIST, KITCHEN_DEVICE};
use spotify_sandbox::{AppMode, AppPatch, UserPatch, UserSeed};

use super::helpers::{api_error, expect_json, start};

#[tokio::test]
async fn quota_exceeded_is_a_429_with_its_reason() {
    let h = start().await;
    let t = h.link(None).await.access;
    h.sandbox
        .client
        .quota_exceeded_next(1, Some(30))
        .await
        .expect("fault");
    let response = h.get("/v1/me", &t).await;
    assert_eq!(response.headers()["retry-after"], "30");
    expect_json(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}}),
    )
    .await;
    assert_eq!(h.get("/v1/me", &t).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn development_mode_allowlist_holds_five() {
    let h = start().await;
    // alice is seeded; four more fill the allowlist, a sixth is refused as the dashboard refuses it.
    for n in 1..=4 {
        h.sandbox
            .client
            .seed_user(&UserSeed::new(&format!("user{n}")))
            .await
            .expect("a seat is free");
    }
    let sixth = h.sandbox.client.seed_user(&UserSeed::new("user5")).await;
    assert!(
        sixth.is_err_and(|e| e.to_string().contains("409")),
        "a sixth user is refused"
    );
    // Not on the allowlist is allowed, and such a user gets the dashboard's 403 on every call.
    let outsider = UserSeed {
        registered: false,
        ..UserSeed::new("outsider")
    };
    h.sandbox.client.seed_user(&outsider).await.expect("seed");
    let t = h.link(Some("outsider")).await.access;
    let response = h.get("/v1/me", &t).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.text().await.expect("text"),
        "User not registered in the Developer Dashboard"
    );
    let join = UserPatch {
        registered: Some(true),
        ..UserPatch::default()
    };
    assert!(
        h.sandbox
            .client
            .update_user("outsider", &join)
            .await
            .is_err(),
        "no seat for a sixth user"
    );
    let leave = UserPatch {
        registered: Some(false),
        ..UserPatch::default()
    };
    h.sandbox
        .client
        .update_user("user4", &leave)
        .await
        .expect("leave");
    h.sandbox
        .client
        .update_user("outsider", &join)
        .await
        .expect("a freed seat");
    assert_eq!(h.get("/v1/me", &t).await.status(), StatusCode::OK);
    let app = h.sandbox.client.app().await.expect("app");
    assert_eq!(app["seats"], 5);
    assert_eq!(app["allowlist"].as_array().map(Vec::len), Some(5));
    // Extended quota lifts the limit.
    h.sandbox
        .client
        .update_app(&AppPatch {
            mode: Some(AppMode::ExtendedQuota),
            ..AppPatch::default()
        })
        .await
        .expect("mode");
    h.sandbox
        .client
        .update_user("user4", &join)
        .await
        .expect("no limit");
}

#[tokio::test]
async fn owner_premium_lapse_fails_every_call_until_renewed() {
    let h = start().await;
    let t = h.link(None).await.access;
    let lapse = |premium| AppPatch {
        owner_premium: Some(premium),
        ..AppPatch::default()
    };
    h.sandbox
        .client
        .update_app(&lapse(false))
        .await
        .expect("lapse");
    for path in ["/v1/me", "/v1/me/player", "/v1/me/playlists"] {
        let response = h.get(path, &t).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(
            response
                .text()
                .await
                .expect("text")
                .starts_with("Active premium subscription required for the owner of the app."),
            "{path}"
        );
    }
    // A bad token is still a 401: the token is checked first.
    assert_eq!(
        h.get("/v1/me", "not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    h.sandbox
        .client
        .update_app(&lapse(true))
        .await
        .expect("renew");
    assert_eq!(h.get("/v1/me", &t).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn playlists_carry_items_and_tracks_is_gone_in_development_mode() {
    let h = start().await;
    let t = h.link(None).await.access;
    let page: Value = h
        .get("/v1/me/playlists", &t)
        .await
        .json()
        .await
        .expect("page");
    let jazz = &page["items"][0];
    assert_eq!(jazz["items"]["total"], 3);
    assert!(
        jazz["items"]["href"]
            .as_str()
            .is_some_and(|h| h.ends_with(&format!("/v1/playlists/{JAZZ_PLAYLIST}/items")))
    );
    assert_eq!(
        jazz["tracks"]["total"], 3,
        "the deprecated field is still sent"
    );

    let response = h
        .get(&format!("/v1/playlists/{JAZZ_PLAYLIST}/items?limit=2"), &t)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let items: Value = response.json().await.expect("items");
    assert_eq!(items["total"], 3);
    assert_eq!(items["items"][0]["item"]["name"], "So What");
    assert_eq!(items["items"][0]["item"], items["items"][0]["track"]);
    assert!(
        items["next"]
            .as_str()
            .is_some_and(|n| n.contains("/items?"))
    );
    expect_json(
        h.get("/v1/playlists/0000000000000000000000/items", &t)
            .await,
        StatusCode::NOT_FOUND,
        api_error(404, "Resource not found"),
    )
    .await;
    expect_json(
        h.get(&format!("/v1/playlists/{JAZZ_PLAYLIST}/tracks"), &t)
            .await,
        StatusCode::FORBIDDEN,
        api_error(403, "Forbidden"),
    )
    .await;
    h.sandbox
        .client
        .update_app(&AppPatch {
            mode: Some(AppMode::ExtendedQuota),
            ..AppPatch::default()
        })
        .await
        .expect("mode");
    assert_eq!(
        h.get(&format!("/v1/playlists/{JAZZ_PLAYLIST}/tracks"), &t)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn volume_shuffle_repeat_and_queue() {
    let h = start().await;
    let t = h.link(None).await.access;
    let put = |path: &'static str| h.api(Method::PUT, path, &t, None);
    assert_eq!(
        put("/v1/me/player/volume?volume_percent=30").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("/v1/me/player/shuffle?state=true").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put("/v1/me/player/repeat?state=context").await.status(),
        StatusCode::NO_CONTENT
    );
    let queued = h
        .api(
            Method::POST,
            "/v1/me/player/queue?uri=spotify:track:3n3Ppam7vgaVa1iaRUc9Lp",
            &t,
            None,
        )
        .await;
    assert_eq!(queued.status(), StatusCode::NO_CONTENT);
    let state: Value = h
        .get("/v1/me/player", &t)
        .await
        .json()
        .await
        .expect("state");
    assert_eq!(state["device"]["id"], KITCHEN_DEVICE);
    assert_eq!(state["device"]["volume_percent"], 30);
    assert_eq!(state["shuffle_state"], true);
    assert_eq!(state["repeat_state"], "context");
    let player = h.sandbox.client.player("alice").await.expect("player");
    assert_eq!(player.queue[1], "spotify:track:3n3Ppam7vgaVa1iaRUc9Lp");
    // Spotify's refusals.
    expect_json(
        put("/v1/me/player/volume?volume_percent=101").await,
        StatusCode::BAD_REQUEST,
        api_error(400, "Invalid volume_percent"),
    )
    .await;
    expect_json(
        put("/v1/me/player/volume").await,
        StatusCode::BAD_REQUEST,
        api_error(400, "Required parameter volume_percent missing"),
    )
    .await;
    expect_json(
        put("/v1/me/player/repeat?state=forever").await,
        StatusCode::BAD_REQUEST,
        api_error(400, "Invalid state"),
    )
    .await;
    expect_json(
        h.api(
            Method::POST,
            "/v1/me/player/queue?uri=spotify:album:x",
            &t,
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        api_error(400, "Invalid track uri"),
    )
    .await;
    h.sandbox
        .client
        .set_player("alice", &spotify_sandbox::PlayerSeed::default())
        .await
        .expect("no device");
    let response = put("/v1/me/player/shuffle?state=false").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["reason"], "NO_ACTIVE_DEVICE");
}

#[tokio::test]
async fn search_finds_tracks_albums_and_artists() {
    let h = start().await;
    let t = h.link(None).await.access;
    let found: Value = h
        .get("/v1/search?q=miles%20davis&type=track,album,artist", &t)
        .await
        .json()
        .await
        .expect("search");
    assert_eq!(found["tracks"]["total"], 2);
    assert_eq!(found["tracks"]["items"][0]["type"], "track");
    assert_eq!(found["albums"]["items"][0]["name"], "Kind of Blue");
    assert_eq!(found["albums"]["items"][0]["total_tracks"], 2);
    assert_eq!(found["artists"]["items"][0]["name"], "Miles Davis");
    assert!(
        found["artists"]["items"][0]["uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("spotify:artist:"))
    );
}

#[tokio::test]
async fn an_ad_cannot_be_skipped_and_shows_are_found() {
    let h = start().await;
    let t = h.link(None).await.access;
    let mut player = h.sandbox.client.player("alice").await.expect("player");
    player.ad = true;
    h.sandbox
        .client
        .set_player("alice", &player)
        .await
        .expect("player");
    let now: Value = h
        .get("/v1/me/player/currently-playing", &t)
        .await
        .json()
        .await
        .expect("now");
    assert_eq!(now["currently_playing_type"], "ad");
    assert!(now["item"].is_null(), "{now}");
    for path in ["/v1/me/player/next", "/v1/me/player/previous"] {
        let refused = h.api(Method::POST, path, &t, None).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let body: Value = refused.json().await.expect("body");
        assert_eq!(
            body["error"]["message"],
            "Player command failed: Restriction violated"
        );
    }
    let after = h.sandbox.client.player("alice").await.expect("player");
    assert_eq!((after.index, after.ad), (0, true));
    player.ad = false;
    h.sandbox
        .client
        .set_player("alice", &player)
        .await
        .expect("player");
    assert_eq!(
        h.api(Method::POST, "/v1/me/player/next", &t, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let found: Value = h
        .get("/v1/search?q=testing%20weekly&type=show", &t)
        .await
        .json()
        .await
        .expect("search");
    assert_eq!(found["shows"]["items"][0]["name"], "Testing Weekly");
    let uri = found["shows"]["items"][0]["uri"].as_str().expect("uri");
    assert!(uri.starts_with("spotify:show:"), "{uri}");

    let devices = h.sandbox.client.devices("alice").await.expect("devices");
    assert_eq!(devices.len(), 2);
    assert!(
        devices
            .iter()
            .any(|d| d.id == KITCHEN_DEVICE && d.is_active)
    );
}
