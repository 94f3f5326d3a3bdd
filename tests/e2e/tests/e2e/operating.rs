//! Operating the broker: the OpenAPI document against the running routes, admin authentication, the
//! admin API's filters and paging, the audit trail of a link's whole story, and the admin listener split.

use std::time::Duration;

use broker::domain::{AdminId, LinkId};
use e2e::{ALICE, BOB, Backend, spawn_broker, spawn_sandbox};
use reqwest::Method;
use serde_json::Value;
use spotify_sandbox::UserPatch;

use crate::proxy_support::{Skill, admin, link};

both_backends!(admin_filters_and_paging, audit_trail_tells_each_links_story);

/// Every operation of the served document answers on the running broker with something other than
/// the unknown-path 404, and the document is OpenAPI 3.
#[tokio::test]
async fn the_served_document_describes_the_running_routes() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let response = broker.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{}", paths.len());
    let mut checked = 0;
    for (template, item) in paths {
        let path = template.replace("{link_id}", &LinkId::generate().to_string());
        for (method, _) in item.as_object().unwrap() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = broker
                .http
                .request(method.clone(), broker.url(&path))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            // Without credentials an operation answers 401, 400, a page or its answer; never the
            // answer for a path nobody serves.
            assert!(
                !(status == 404 && body.contains("\"not_found\"")),
                "{method} {template} is documented but not served: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20);
}

/// Missing, wrong and right admin tokens on every admin route; the service token is no admin token.
#[tokio::test]
async fn admin_routes_need_an_admin_token() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let (_, link_id) = link(&broker, ALICE).await;
    let routes = [
        (Method::GET, "/admin/links".to_owned(), 200),
        (Method::GET, format!("/admin/links/{link_id}"), 200),
        (Method::GET, "/admin/audit".to_owned(), 200),
        (Method::POST, format!("/admin/links/{link_id}/restore"), 409),
        (Method::DELETE, format!("/admin/links/{link_id}"), 204),
    ];
    for (method, path, right) in &routes {
        let missing = broker
            .http
            .request(method.clone(), broker.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 401, "{method} {path} without a token");
        let body: Value = missing.json().await.unwrap();
        assert_eq!(body["error"]["code"], "service_unauthorized");
        for wrong in [
            "wrong",
            broker.service_token.as_str(),
            &format!("{}x", broker.admin_token),
            "",
        ] {
            admin(&broker, method.clone(), path, wrong)
                .await
                .expect_error(401, "service_unauthorized");
        }
        let answer = admin(&broker, method.clone(), path, &broker.admin_token).await;
        assert_eq!(answer.status, *right, "{}: {}", answer.what, answer.body);
    }
    // Basic is not Bearer.
    let basic = broker
        .http
        .get(broker.url("/admin/links"))
        .basic_auth(&broker.admin_token, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

fn ids_of(page: &Value) -> Vec<String> {
    page["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["link_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin_filters_and_paging(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let (alice, alice_link) = link(&broker, ALICE).await;
    let (_, bob_link) = link(&broker, BOB).await;
    broker
        .sandbox
        .client
        .seed_user(&spotify_sandbox::UserSeed::new("carol"))
        .await
        .unwrap();
    let (_, carol_link) = link(&broker, "carol").await;
    let token = broker.admin_token.clone();
    let get = |path: String| {
        let broker = &broker;
        let token = token.clone();
        async move {
            let answer = admin(broker, Method::GET, &path, &token).await;
            answer.expect_ok(200);
            answer.json()
        }
    };

    // Bob consented long ago: his relink is due first. Carol is revoked.
    let pool = broker.raw_pool().await;
    sqlx::query("update link set authorized_at = authorized_at - $2 where link_id = $1")
        .bind(bob_link.to_string())
        .bind(170_i64 * 24 * 3600)
        .execute(&pool)
        .await
        .unwrap();
    admin(
        &broker,
        Method::DELETE,
        &format!("/admin/links/{carol_link}"),
        &token,
    )
    .await
    .expect_ok(204);

    // Paging: one at a time, in id order, until `next_after` is null, gives every link once.
    let mut all = ids_of(&get("/admin/links?limit=10".to_owned()).await);
    all.sort();
    assert_eq!(all.len(), 3);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let path = match &after {
            Some(after) => format!("/admin/links?limit=1&after={after}"),
            None => "/admin/links?limit=1".to_owned(),
        };
        let page = get(path).await;
        paged.extend(ids_of(&page));
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all, "pages cover every link once, in order");

    // Filters.
    let active = get("/admin/links?status=active".to_owned()).await;
    let mut expected = vec![alice_link.to_string(), bob_link.to_string()];
    expected.sort();
    assert_eq!(ids_of(&active), expected);
    let revoked = get("/admin/links?status=revoked".to_owned()).await;
    assert_eq!(ids_of(&revoked), vec![carol_link.to_string()]);
    let soon = chrono::Utc::now() + chrono::Duration::days(30);
    let due = get(format!(
        "/admin/links?relink_due_before={}",
        soon.format("%Y-%m-%dT%H:%M:%SZ")
    ))
    .await;
    assert_eq!(ids_of(&due), vec![bob_link.to_string()]);
    let due_active = get(format!(
        "/admin/links?status=active&relink_due_before={}",
        soon.format("%Y-%m-%dT%H:%M:%SZ")
    ))
    .await;
    assert_eq!(ids_of(&due_active), vec![bob_link.to_string()]);
    for bad in [
        "/admin/links?status=sleeping",
        "/admin/links?relink_due_before=tomorrow",
        "/admin/links?after=not-a-link",
        "/admin/links?limit=many",
    ] {
        admin(&broker, Method::GET, bad, &token)
            .await
            .expect_error(400, "bad_request");
    }

    // One link: relink deadline, last refresh, last use, how it is sealed; never a token.
    let shown = get(format!("/admin/links/{alice_link}")).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["sealed_by"], "data_key");
    assert!(shown["last_used_at"].is_null(), "{shown}");
    assert!(shown["last_refreshed_at"].is_null(), "{shown}");
    let authorized =
        chrono::DateTime::parse_from_rfc3339(shown["authorized_at"].as_str().unwrap()).unwrap();
    let due =
        chrono::DateTime::parse_from_rfc3339(shown["relink_due_at"].as_str().unwrap()).unwrap();
    assert_eq!((due - authorized).num_days(), 183);
    // A use of the link (and a refresh Spotify's expired token forces) shows.
    broker
        .sandbox
        .client
        .expire_access_tokens(ALICE)
        .await
        .unwrap();
    let skill = Skill::new(&broker, &alice.access_token);
    skill.get("/me").await.expect_ok(200);
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = get(format!("/admin/links/{alice_link}")).await;
        if !shown["last_used_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(shown["last_used_at"].is_string(), "{shown}");
    assert!(shown["last_refreshed_at"].is_string(), "{shown}");
    let text = shown.to_string();
    assert!(!text.contains(&alice.access_token) && !text.contains(&alice.refresh_token));
    admin(
        &broker,
        Method::GET,
        &format!("/admin/links/{}", LinkId::generate()),
        &token,
    )
    .await
    .expect_error(404, "not_found");
}

/// Reads the whole audit trail matching `query` two events a page, following the cursor.
async fn audit_pages(broker: &e2e::TestBroker, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/admin/audit?limit=2{query}");
        if let Some(after) = &after {
            path.push_str(&format!("&after={after}"));
        }
        let answer = admin(broker, Method::GET, &path, &broker.admin_token).await;
        answer.expect_ok(200);
        let page = answer.json();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return events,
        }
    }
    panic!("the audit trail never ended");
}

fn story(events: &[Value], link_id: &LinkId) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["link_id"] == link_id.to_string())
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn audit_trail_tells_each_links_story(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("spotify.invalid_grant_confirm_ms", "50")],
    )
    .await;
    let admin_actor = format!("admin:{}", AdminId::of_token(&broker.admin_token));
    let client = &broker.sandbox.client;
    let mut secrets = vec![broker.admin_token.clone(), broker.service_token.clone()];

    // Alice: linked, linked again, a replayed code, a refresh token presented after it was revoked
    // through RFC 7009, Spotify refusing the app (twice, recorded once), refused refresh token,
    // restored and revoked by an operator (twice: recorded once).
    let (first, alice_link) = link(&broker, ALICE).await;
    // Before the relink below: a relink revokes every earlier grant of the link.
    let revoked = broker.revoke_token(&first.refresh_token).await;
    assert_eq!(revoked.status(), 200);
    let family = broker.refresh(&first.refresh_token).await;
    assert_eq!(family.status(), 400);
    let code = broker.code_for(ALICE).await;
    let second = broker.exchange_code(&code, None).await;
    let replay = broker
        .token_with_basic(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", broker.redirect_uri.as_str()),
        ])
        .await;
    assert_eq!(replay.status(), 400);
    secrets.extend([
        first.access_token.clone(),
        first.refresh_token.clone(),
        second.access_token.clone(),
        second.refresh_token.clone(),
        code.clone(),
    ]);

    let third = broker.link_user(ALICE).await;
    secrets.extend([third.access_token.clone(), third.refresh_token.clone()]);
    let skill = Skill::new(&broker, &third.access_token);
    let unregistered = UserPatch {
        registered: Some(false),
        ..UserPatch::default()
    };
    client.update_user(ALICE, &unregistered).await.unwrap();
    for _ in 0..2 {
        skill
            .post("/me/player/next")
            .await
            .expect_error(403, "app_not_permitted");
    }
    let registered = UserPatch {
        registered: Some(true),
        ..UserPatch::default()
    };
    client.update_user(ALICE, &registered).await.unwrap();
    client.revoke_grant(ALICE).await.unwrap();
    client.expire_access_tokens(ALICE).await.unwrap();
    skill.get("/me").await.expect_error(401, "relink_required");
    let restore = format!("/admin/links/{alice_link}/restore");
    admin(&broker, Method::POST, &restore, &broker.admin_token)
        .await
        .expect_ok(204);
    let revoke = format!("/admin/links/{alice_link}");
    for _ in 0..2 {
        admin(&broker, Method::DELETE, &revoke, &broker.admin_token)
            .await
            .expect_ok(204);
    }

    // Bob: linked, then the user disabled the skill.
    let (bob, bob_link) = link(&broker, BOB).await;
    secrets.extend([bob.access_token.clone(), bob.refresh_token.clone()]);
    let disabled = Skill::new(&broker, &bob.access_token)
        .call(Method::POST, "/v1/link/revoke", &[], None)
        .await;
    assert_eq!(disabled.status, 204);

    // The app refusal is recorded in the background.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = audit_pages(&broker, "").await;
        if events.iter().any(|e| e["kind"] == "app_refused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected: Vec<(String, String)> = [
        ("linked", "user"),
        ("relinked", "user"),
        ("code_replayed", "broker"),
        ("revoked", "oauth_client"),
        ("refresh_token_family_revoked", "broker"),
        ("relinked", "user"),
        ("app_refused", "broker"),
        ("relink_required", "broker"),
        ("restored", admin_actor.as_str()),
        ("revoked", admin_actor.as_str()),
    ]
    .into_iter()
    .map(|(kind, actor)| (kind.to_owned(), actor.to_owned()))
    .collect();
    // Events of one second keep their order only by id: compare as a multiset, then check the
    // order where seconds differ is not contradicted (times never decrease).
    let mut alice_story = story(&events, &alice_link);
    let mut sorted_expected = expected.clone();
    alice_story.sort();
    sorted_expected.sort();
    assert_eq!(alice_story, sorted_expected, "{events:#?}");
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(
        story(&events, &bob_link),
        vec![
            ("linked".to_owned(), "user".to_owned()),
            ("revoked".to_owned(), "user".to_owned())
        ]
    );
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "relink_required" || e["kind"] == "app_refused")
        .map(|e| e["reason"].as_str().unwrap_or_default())
        .collect();
    assert!(reasons.iter().all(|r| !r.is_empty()), "{reasons:?}");

    // Filters: by link and by kind, paged the same way.
    let only_bob = audit_pages(&broker, &format!("&link_id={bob_link}")).await;
    assert_eq!(only_bob.len(), 2);
    let revocations = audit_pages(&broker, "&kind=revoked").await;
    assert_eq!(revocations.len(), 3, "{revocations:#?}");
    assert!(revocations.iter().all(|e| e["kind"] == "revoked"));
    for bad in [
        "/admin/audit?kind=exploded",
        "/admin/audit?link_id=nope",
        "/admin/audit?after=garbage",
    ] {
        admin(&broker, Method::GET, bad, &broker.admin_token)
            .await
            .expect_error(400, "bad_request");
    }

    // Never a token, a code or a credential.
    let trail = serde_json::to_string(&events).unwrap();
    for secret in &secrets {
        assert!(
            !trail.contains(secret.as_str()),
            "the audit trail holds a secret"
        );
    }
    let pool = broker.raw_pool().await;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("select action, actor, reason from audit_event")
            .fetch_all(&pool)
            .await
            .unwrap();
    let stored = format!("{rows:?}");
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "the audit table holds a secret"
        );
    }
}

/// With `server.admin_bind`, `/admin/*` is only on the admin listener, and the main listener answers
/// it `not_found`; the admin listener serves nothing else but health.
#[tokio::test]
async fn the_admin_listener_is_apart_from_the_public_one() {
    let broker = spawn_broker(
        Backend::Sqlite,
        spawn_sandbox().await,
        &[("server.admin_bind", "127.0.0.1:0")],
    )
    .await;
    let admin_url = broker.admin_base_url.clone().expect("an admin listener");
    assert_ne!(admin_url, broker.base_url);
    let (pair, link_id) = link(&broker, ALICE).await;
    let at = |base: &str, method: Method, path: &str| {
        let request = broker
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&broker.admin_token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    for (method, path) in [
        (Method::GET, "/admin/links".to_owned()),
        (Method::GET, format!("/admin/links/{link_id}")),
        (Method::GET, "/admin/audit".to_owned()),
        (Method::DELETE, format!("/admin/links/{link_id}")),
    ] {
        let (status, body) = at(&broker.base_url, method.clone(), &path).await;
        assert_eq!(status, 404, "main listener {method} {path}: {body}");
        assert!(body.contains("\"not_found\""), "{body}");
    }
    // The link is still there: the main listener's DELETE did nothing.
    Skill::new(&broker, &pair.access_token)
        .get("/me")
        .await
        .expect_ok(200);
    let (status, body) = at(&admin_url, Method::GET, "/admin/links").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&link_id.to_string()));
    let (status, _) = at(&admin_url, Method::GET, "/admin/audit").await;
    assert_eq!(status, 200);
    for path in ["/healthz", "/readyz"] {
        assert_eq!(at(&admin_url, Method::GET, path).await.0, 200, "{path}");
        assert_eq!(
            at(&broker.base_url, Method::GET, path).await.0,
            200,
            "{path}"
        );
    }
    for (method, path) in [
        (Method::GET, "/v1/link"),
        (Method::GET, "/v1/spotify/me"),
        (Method::POST, "/oauth/token"),
        (Method::GET, "/oauth/authorize"),
        (Method::GET, "/openapi.json"),
    ] {
        let (status, body) = at(&admin_url, method.clone(), path).await;
        assert_eq!(status, 404, "admin listener {method} {path}: {body}");
    }
    // Revoking on the admin listener reaches the public one.
    let (status, _) = at(
        &admin_url,
        Method::DELETE,
        &format!("/admin/links/{link_id}"),
    )
    .await;
    assert_eq!(status, 204);
    Skill::new(&broker, &pair.access_token)
        .get("/me")
        .await
        .expect_error(401, "relink_required");
}
