//! The Web API: player state and commands, playlists with ETags, search, and Spotify's refusals.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use spotify_sandbox::demo::{JAZZ_PLAYLIST, KITCHEN_DEVICE, LAPTOP_DEVICE, ROAD_TRIP_PLAYLIST};
use spotify_sandbox::{PlayerSeed, Product, UserPatch, UserSeed};

use super::helpers::{api_error, expect_json, start};

#[tokio::test]
async fn player_commands_change_state() {
    let h = start().await;
    let t = h.link(None).await.access;
    let state: Value = h
        .get("/v1/me/player", &t)
        .await
        .json()
        .await
        .expect("state");
    assert_eq!(state["is_playing"], true);
    assert_eq!(state["device"]["id"], KITCHEN_DEVICE);
    assert_eq!(state["item"]["name"], "So What");
    assert_eq!(
        state["context"]["uri"],
        format!("spotify:playlist:{JAZZ_PLAYLIST}")
    );

    let response = h.api(Method::PUT, "/v1/me/player/pause", &t, None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["cache-control"], "private, max-age=0");
    assert!(
        !h.sandbox
            .client
            .player("alice")
            .await
            .expect("player")
            .is_playing
    );
    // Pausing a paused player is refused, as at Spotify.
    let response = h.api(Method::PUT, "/v1/me/player/pause", &t, None).await;
    expect_json(
        response,
        StatusCode::FORBIDDEN,
        json!({"error": {"status": 403, "message": "Player command failed: Restriction violated", "reason": "UNKNOWN"}}),
    )
    .await;

    assert_eq!(
        h.api(Method::POST, "/v1/me/player/next", &t, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let player = h.sandbox.client.player("alice").await.expect("player");
    assert_eq!((player.index, player.is_playing), (1, true));
    let now: Value = h
        .get("/v1/me/player/currently-playing", &t)
        .await
        .json()
        .await
        .expect("now");
    assert_eq!(now["item"]["name"], "Take Five");
    assert_eq!(
        h.api(Method::POST, "/v1/me/player/previous", &t, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.sandbox
            .client
            .player("alice")
            .await
            .expect("player")
            .index,
        0
    );

    // Start another playlist at an offset, on another device.
    let body = json!({"context_uri": format!("spotify:playlist:{ROAD_TRIP_PLAYLIST}"), "offset": {"position": 1}});
    let path = format!("/v1/me/player/play?device_id={LAPTOP_DEVICE}");
    assert_eq!(
        h.api(Method::PUT, &path, &t, Some(body)).await.status(),
        StatusCode::NO_CONTENT
    );
    let state: Value = h
        .get("/v1/me/player", &t)
        .await
        .json()
        .await
        .expect("state");
    assert_eq!(state["item"]["name"], "Stairway to Heaven");
    assert_eq!(state["device"]["id"], LAPTOP_DEVICE);
    let devices: Value = h
        .get("/v1/me/player/devices", &t)
        .await
        .json()
        .await
        .expect("devices");
    let active: Vec<&Value> = devices["devices"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|d| d["is_active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], LAPTOP_DEVICE);

    // Transfer back, and play explicit URIs including an episode.
    let body = json!({"device_ids": [KITCHEN_DEVICE], "play": true});
    assert_eq!(
        h.api(Method::PUT, "/v1/me/player", &t, Some(body))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let body = json!({"uris": ["spotify:episode:512ojhOuo1ktJprKbVcKyQ"]});
    assert_eq!(
        h.api(Method::PUT, "/v1/me/player/play", &t, Some(body))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let now: Value = h
        .get("/v1/me/player/currently-playing", &t)
        .await
        .json()
        .await
        .expect("now");
    assert_eq!(now["currently_playing_type"], "episode");
    assert!(
        now["item"].is_null(),
        "episodes need additional_types=episode"
    );
    let now: Value = h
        .get(
            "/v1/me/player/currently-playing?additional_types=episode",
            &t,
        )
        .await
        .json()
        .await
        .expect("now");
    assert_eq!(now["item"]["show"]["name"], "Testing Weekly");
    let response = h
        .api(
            Method::PUT,
            "/v1/me/player/play",
            &t,
            Some(json!({"uris": ["nope"]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = h
        .api(
            Method::PUT,
            "/v1/me/player/play?device_id=unknown",
            &t,
            None,
        )
        .await;
    expect_json(
        response,
        StatusCode::NOT_FOUND,
        api_error(404, "Device not found"),
    )
    .await;
}

#[tokio::test]
async fn premium_device_scope_and_registration_errors() {
    let h = start().await;
    let mut bob = UserSeed::new("bob");
    bob.product = Product::Free;
    bob.scopes = Some(vec![
        "user-read-playback-state".to_owned(),
        "user-modify-playback-state".to_owned(),
    ]);
    h.sandbox.client.seed_user(&bob).await.expect("seed");
    let t = h.link(Some("bob")).await.access;
    // No device active: the player is 204.
    let response = h.get("/v1/me/player", &t).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    let premium = json!({"error": {"status": 403, "message": "Player command failed: Premium required", "reason": "PREMIUM_REQUIRED"}});
    expect_json(
        h.api(Method::PUT, "/v1/me/player/play", &t, None).await,
        StatusCode::FORBIDDEN,
        premium,
    )
    .await;

    h.sandbox
        .client
        .update_user(
            "bob",
            &UserPatch {
                product: Some(Product::Premium),
                ..UserPatch::default()
            },
        )
        .await
        .expect("patch");
    let no_device = json!({"error": {"status": 404, "message": "Player command failed: No active device found", "reason": "NO_ACTIVE_DEVICE"}});
    expect_json(
        h.api(Method::PUT, "/v1/me/player/pause", &t, None).await,
        StatusCode::NOT_FOUND,
        no_device,
    )
    .await;

    // Scope not granted.
    expect_json(
        h.get("/v1/me/playlists", &t).await,
        StatusCode::FORBIDDEN,
        api_error(403, "Insufficient client scope"),
    )
    .await;
    // Reducing the scopes of an existing grant.
    h.sandbox
        .client
        .update_user(
            "bob",
            &UserPatch {
                scopes: Some(vec!["user-read-private".to_owned()]),
                ..UserPatch::default()
            },
        )
        .await
        .expect("patch");
    expect_json(
        h.get("/v1/me/player/devices", &t).await,
        StatusCode::FORBIDDEN,
        api_error(403, "Insufficient client scope"),
    )
    .await;

    // Not registered in the dashboard: plain text.
    h.sandbox
        .client
        .update_user(
            "bob",
            &UserPatch {
                registered: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .expect("patch");
    let response = h.get("/v1/me", &t).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain")
    );
    assert_eq!(
        response.text().await.expect("text"),
        "User not registered in the Developer Dashboard"
    );

    // Token problems.
    let response = h.http.get(h.url("/v1/me")).send().await.expect("send");
    expect_json(
        response,
        StatusCode::UNAUTHORIZED,
        api_error(401, "No token provided"),
    )
    .await;
    expect_json(
        h.get("/v1/me", "garbage").await,
        StatusCode::UNAUTHORIZED,
        api_error(401, "Invalid access token"),
    )
    .await;
    // Unknown path.
    let response = h.get("/v1/nothing/here", &t).await;
    assert_eq!(response.headers()["cache-control"], "private, max-age=0");
    expect_json(
        response,
        StatusCode::NOT_FOUND,
        api_error(404, "Service not found"),
    )
    .await;
}

#[tokio::test]
async fn playlists_are_paged_with_etags() {
    let h = start().await;
    let t = h.link(None).await.access;
    let response = h.get("/v1/me/playlists?limit=1", &t).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    let page: Value = response.json().await.expect("page");
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["name"], "Morning Jazz");
    assert_eq!(page["items"][0]["tracks"]["total"], 3);
    assert!(
        page["next"]
            .as_str()
            .expect("next")
            .ends_with("/v1/me/playlists?offset=1&limit=1")
    );
    assert!(page["previous"].is_null());

    let response = h
        .http
        .get(h.url("/v1/me/playlists?limit=1"))
        .bearer_auth(&t)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"].to_str().expect("etag"), etag);
    assert!(response.bytes().await.expect("body").is_empty());

    // A change to the playlists changes the ETag.
    h.sandbox
        .client
        .set_playlists("alice", &[])
        .await
        .expect("playlists");
    let response = h
        .http
        .get(h.url("/v1/me/playlists?limit=1"))
        .bearer_auth(&t)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("page")["total"], 0);
    let counters = h.sandbox.client.counters().await.expect("counters");
    assert_eq!(counters.conditional_requests, 2);
    assert_eq!(counters.not_modified, 1);
    assert_eq!(counters.api_calls("GET /v1/me/playlists"), 3);
    expect_json(
        h.get("/v1/me/playlists?limit=500", &t).await,
        StatusCode::BAD_REQUEST,
        api_error(400, "Invalid limit"),
    )
    .await;
}

#[tokio::test]
async fn search_and_seeded_player_state() {
    let h = start().await;
    let t = h.link(None).await.access;
    let found: Value = h
        .get("/v1/search?q=miles&type=track,artist,album,playlist", &t)
        .await
        .json()
        .await
        .expect("search");
    assert_eq!(found["tracks"]["total"], 2);
    assert_eq!(found["artists"]["items"][0]["name"], "Miles Davis");
    assert_eq!(found["albums"]["items"][0]["name"], "Kind of Blue");
    assert_eq!(found["playlists"]["total"], 0);
    let found: Value = h
        .get("/v1/search?q=road%20trip&type=playlist", &t)
        .await
        .json()
        .await
        .expect("search");
    assert_eq!(found["playlists"]["items"][0]["id"], ROAD_TRIP_PLAYLIST);
    expect_json(
        h.get("/v1/search?type=track", &t).await,
        StatusCode::BAD_REQUEST,
        api_error(400, "No search query"),
    )
    .await;

    h.sandbox
        .client
        .set_player(
            "alice",
            &PlayerSeed {
                device_id: None,
                ..PlayerSeed::default()
            },
        )
        .await
        .expect("player");
    assert_eq!(
        h.get("/v1/me/player/currently-playing", &t).await.status(),
        StatusCode::NO_CONTENT
    );
    let seeded = PlayerSeed {
        device_id: Some(LAPTOP_DEVICE.to_owned()),
        is_playing: false,
        queue: vec!["spotify:track:3n3Ppam7vgaVa1iaRUc9Lp".to_owned()],
        progress_ms: 1000,
        ..PlayerSeed::default()
    };
    h.sandbox
        .client
        .set_player("alice", &seeded)
        .await
        .expect("player");
    let state: Value = h
        .get("/v1/me/player", &t)
        .await
        .json()
        .await
        .expect("state");
    assert_eq!(state["item"]["name"], "Mr. Brightside");
    assert_eq!(state["progress_ms"], 1000);
    assert_eq!(state["is_playing"], false);
    assert_eq!(
        h.sandbox
            .client
            .player("alice")
            .await
            .expect("player")
            .device_id
            .as_deref(),
        Some(LAPTOP_DEVICE)
    );
}
