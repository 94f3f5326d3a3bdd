//! The refresh grant (never a Spotify call, earlier refresh tokens honoured for a grace period) and
//! revocation by the client (`POST /oauth/revoke`) and by an operator.

use std::time::Duration;

use broker::domain::{TokenHash, UnixTime};
use e2e::oauth::oauth_error;
use e2e::{ALICE, Backend, TokenPair, spawn_broker, spawn_sandbox};
use reqwest::StatusCode;

use crate::linking::assert_token_answer;

async fn refresh_grant_issues_new_tokens_and_honours_the_previous_one(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let first = broker.link_user(ALICE).await;
    let spotify_calls = broker.sandbox.client.counters().await.unwrap();

    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert_token_answer(&second);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::OK
    );

    // Alexa retries with the refresh token it already used: still accepted (grace period).
    let retried = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert_token_answer(&retried);
    // The newest one works, with body credentials too.
    let third = broker
        .token_with_body(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", second.refresh_token.as_str()),
        ])
        .await;
    assert_token_answer(&TokenPair::from_response(third).await);
    // Earlier access tokens keep working until they expire.
    assert_eq!(
        broker.link_status(&first.access_token).await.status(),
        StatusCode::OK
    );

    // Not one of those refreshes reached Spotify.
    let after = broker.sandbox.client.counters().await.unwrap();
    assert_eq!(after.token_total, spotify_calls.token_total);
    assert_eq!(after.token_calls("refresh_token"), 0);
}

async fn previous_refresh_token_dies_after_the_grace_period(backend: Backend) {
    let broker = spawn_broker(
        backend,
        spawn_sandbox().await,
        &[("oauth.refresh_token_grace_s", "3")],
    )
    .await;
    let first = broker.link_user(ALICE).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert_token_answer(&second);
    // Alexa retries with the rotated-out token within its grace: honoured, but what it mints ends
    // with that grace, and `expires_in` says so even below Alexa's usual minimum.
    let retried = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    assert!(
        (1..=3).contains(&retried.expires_in),
        "a token minted from a rotated-out refresh token lives {} s, past its grace",
        retried.expires_in
    );
    let laundered = TokenPair::from_response(broker.refresh(&retried.refresh_token).await).await;
    assert!(
        (1..=3).contains(&laundered.expires_in),
        "rotating a bounded refresh token again lifted its bound: {} s",
        laundered.expires_in
    );
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::OK
    );

    tokio::time::sleep(Duration::from_millis(4100)).await;
    let (status, error, _) = oauth_error(broker.refresh(&first.refresh_token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // Presenting it after its grace revoked its whole family, the newest refresh token included.
    for token in [&second.refresh_token, &laundered.refresh_token] {
        let (status, error, _) = oauth_error(broker.refresh(token).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_grant"),
            "a refresh token of a revoked family still works"
        );
    }
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "an access token of a revoked family still works"
    );
}

async fn revoke_endpoint_revokes_the_grant(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let pair = broker.link_user(ALICE).await;
    assert_eq!(
        broker.link_status(&pair.access_token).await.status(),
        StatusCode::OK
    );

    let response = broker.revoke_token(&pair.refresh_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let (status, error, _) = oauth_error(broker.refresh(&pair.refresh_token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // RFC 7009 §2.1: revoking a refresh token takes the grant's access tokens with it.
    let found = broker
        .store
        .find_access_token(&TokenHash::of(&pair.access_token), UnixTime::now())
        .await
        .unwrap();
    assert!(found.is_none(), "the grant's access token survived");
    assert_eq!(
        broker.link_status(&pair.access_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "/v1/link still accepts an access token whose grant was revoked"
    );

    // Unknown tokens answer 200 too; bad credentials and a missing token do not.
    let unknown = broker.revoke_token("brt_nothing-like-this").await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let wrong = broker
        .http
        .post(broker.url("/oauth/revoke"))
        .basic_auth(&broker.alexa_client_id, Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=abc")
        .send()
        .await
        .unwrap();
    let (status, error, headers) = oauth_error(wrong).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(headers.get("www-authenticate").is_some());
    let missing = broker
        .http
        .post(broker.url("/oauth/revoke"))
        .basic_auth(&broker.alexa_client_id, Some(&broker.alexa_client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(missing).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

async fn revoking_an_access_token_leaves_the_refresh_token(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let pair = broker.link_user(ALICE).await;
    let response = broker.revoke_token(&pair.access_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let found = broker
        .store
        .find_access_token(&TokenHash::of(&pair.access_token), UnixTime::now())
        .await
        .unwrap();
    assert!(found.is_none());
    TokenPair::from_response(broker.refresh(&pair.refresh_token).await).await;
}

async fn operator_revocation_kills_refresh_and_shreds_tokens(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let pair = broker.link_user(ALICE).await;
    let link_id = broker.link_id_of(ALICE).await;
    let response = broker
        .http
        .delete(broker.url(&format!("/admin/links/{link_id}")))
        .bearer_auth(&broker.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, error, _) = oauth_error(broker.refresh(&pair.refresh_token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let link = broker.store.link(&link_id, None).await.unwrap().unwrap();
    assert!(
        link.tokens.is_none(),
        "revocation must destroy the spotify tokens"
    );
    assert_eq!(
        broker.link_status(&pair.access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A refresh token the broker issued is remembered, so its grant skips the lookup; the store keeps the
/// last word: revoked behind this replica's back (by another replica, or an operator's SQL), the token is
/// refused, and its grant with it.
async fn a_remembered_refresh_token_revoked_in_the_store_is_refused(backend: Backend) {
    let broker = spawn_broker(backend, spawn_sandbox().await, &[]).await;
    let first = broker.link_user(ALICE).await;
    let second = TokenPair::from_response(broker.refresh(&first.refresh_token).await).await;
    sqlx::query("update broker_token set revoked_at = $1 where token_hash = $2")
        .bind(UnixTime::now().as_secs())
        .bind(TokenHash::of(&second.refresh_token).as_str())
        .execute(&broker.raw_pool().await)
        .await
        .unwrap();
    let (status, error, _) = oauth_error(broker.refresh(&second.refresh_token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(
        broker.link_status(&second.access_token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the revoked token's grant is revoked"
    );
    // A new link still refreshes, from memory, again and again.
    let relinked = broker.link_user(ALICE).await;
    let mut refresh_token = relinked.refresh_token;
    for _ in 0..3 {
        let next = TokenPair::from_response(broker.refresh(&refresh_token).await).await;
        assert_eq!(
            broker.link_status(&next.access_token).await.status(),
            StatusCode::OK
        );
        refresh_token = next.refresh_token;
    }
}

both_backends!(
    a_remembered_refresh_token_revoked_in_the_store_is_refused,
    refresh_grant_issues_new_tokens_and_honours_the_previous_one,
    previous_refresh_token_dies_after_the_grace_period,
    revoke_endpoint_revokes_the_grant,
    revoking_an_access_token_leaves_the_refresh_token,
    operator_revocation_kills_refresh_and_shreds_tokens,
);
