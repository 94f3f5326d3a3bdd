//! The accounts service: consent, code exchange, refresh modes, expiry and revocation.

use reqwest::StatusCode;
use serde_json::Value;
use spotify_sandbox::{RefreshMode, UserPatch, UserSeed};

use super::helpers::{
    REDIRECT, VERIFIER, api_error, basic, challenge, expect_json, oauth_error, start,
};

#[tokio::test]
async fn authorization_code_flow_with_basic_credentials() {
    let h = start().await;
    let tokens = h.link(None).await;
    assert!(tokens.scope.contains("user-modify-playback-state"));
    let me: Value = h
        .get("/v1/me", &tokens.access)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["id"], "alice");
    assert_eq!(me["account_id"], "alice");
    assert_eq!(me["product"], "premium");
    assert_eq!(me["email"], "alice@example.com");

    let response = h.refresh(&tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], tokens.scope.as_str());
    assert!(
        body.get("refresh_token").is_none(),
        "reusable mode returns no refresh token"
    );
    let again = h.refresh(&tokens.refresh).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "reusable refresh token keeps working"
    );
    let new_access = body["access_token"].as_str().expect("access");
    assert_eq!(h.get("/v1/me", new_access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn pkce_public_client_and_body_credentials() {
    let h = start().await;
    let challenge = challenge(VERIFIER);
    let pkce = [
        ("code_challenge_method", "S256"),
        ("code_challenge", challenge.as_str()),
    ];
    let code = h.code(&pkce).await;
    let client_id = h.sandbox.client_id.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", VERIFIER),
    ];
    let body: Value = h.token(&form, false).await.json().await.expect("json");
    let refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    // A public PKCE client refreshes with its client id only.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client_id.as_str()),
    ];
    assert_eq!(h.token(&form, false).await.status(), StatusCode::OK);

    // Wrong and missing verifier.
    let code = h.code(&pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", "wrong"),
    ];
    expect_json(
        h.token(&form, true).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_grant", "code_verifier was incorrect"),
    )
    .await;
    let code = h.code(&pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    expect_json(
        h.token(&form, true).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_request", "code_verifier required"),
    )
    .await;

    // Confidential client with credentials in the body, no PKCE.
    let code = h.code(&[]).await;
    let secret = h.sandbox.client_secret.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    assert_eq!(h.token(&form, false).await.status(), StatusCode::OK);
    // Without PKCE, a client id alone is not enough.
    let code = h.code(&[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
    ];
    expect_json(
        h.token(&form, false).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_client", "Invalid client"),
    )
    .await;
}

#[tokio::test]
async fn authorize_errors_and_denial() {
    let h = start().await;
    let response = h.authorize(&[("client_id", "nope")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.text().await.expect("text"),
        "INVALID_CLIENT: Invalid client"
    );
    let response = h.authorize(&[("response_type", "token")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = h.authorize(&[("sandbox_user", "nobody")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = h
        .authorize(&[("code_challenge_method", "plain"), ("code_challenge", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let mut bob = UserSeed::new("bob");
    bob.deny = true;
    h.sandbox.client.seed_user(&bob).await.expect("seed");
    let response = h.authorize(&[("sandbox_user", "bob")]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().expect("location");
    assert_eq!(
        location,
        format!("{REDIRECT}?error=access_denied&state=st-123")
    );

    h.sandbox
        .client
        .update_user(
            "bob",
            &UserPatch {
                deny: Some(false),
                ..UserPatch::default()
            },
        )
        .await
        .expect("patch");
    let tokens = h.link(Some("bob")).await;
    let me: Value = h
        .get("/v1/me", &tokens.access)
        .await
        .json()
        .await
        .expect("me");
    assert_eq!(me["id"], "bob");
}

#[tokio::test]
async fn token_endpoint_error_bodies() {
    let h = start().await;
    let bad = StatusCode::BAD_REQUEST;
    let code = h.code(&[]).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    // Wrong secret (Basic), unknown client (body), missing client.
    let response = h
        .http
        .post(h.url("/api/token"))
        .header("Authorization", basic(&h.sandbox.client_id, "wrong"))
        .form(&exchange)
        .send()
        .await
        .expect("send");
    expect_json(
        response,
        bad,
        oauth_error("invalid_client", "Invalid client secret"),
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("client_id", "nope"),
        ("client_secret", "x"),
    ];
    expect_json(
        h.token(&form, false).await,
        bad,
        oauth_error("invalid_client", "Invalid client"),
    )
    .await;
    expect_json(
        h.token(
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            false,
        )
        .await,
        bad,
        oauth_error("invalid_client", "Invalid client"),
    )
    .await;
    // Grant types.
    expect_json(
        h.token(&[], true).await,
        bad,
        oauth_error("unsupported_grant_type", "grant_type parameter is missing"),
    )
    .await;
    let response = h.token(&[("grant_type", "password")], true).await;
    assert_eq!(response.status(), bad);
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"],
        "unsupported_grant_type"
    );
    expect_json(
        h.token(&[("grant_type", "authorization_code")], true).await,
        bad,
        oauth_error("invalid_request", "code must be supplied"),
    )
    .await;
    expect_json(
        h.token(&[("grant_type", "refresh_token")], true).await,
        bad,
        oauth_error("invalid_request", "refresh_token must be supplied"),
    )
    .await;
    // Redirect URI must match; the code is then used up.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://elsewhere.test/cb"),
    ];
    expect_json(
        h.token(&form, true).await,
        bad,
        oauth_error("invalid_grant", "Invalid redirect URI"),
    )
    .await;
    expect_json(
        h.token(&exchange, true).await,
        bad,
        oauth_error("invalid_grant", "Invalid authorization code"),
    )
    .await;
    // Single use.
    let code = h.code(&[]).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    assert_eq!(h.token(&exchange, true).await.status(), StatusCode::OK);
    expect_json(
        h.token(&exchange, true).await,
        bad,
        oauth_error("invalid_grant", "Invalid authorization code"),
    )
    .await;
    expect_json(
        h.refresh("unknown").await,
        bad,
        oauth_error("invalid_grant", "Invalid refresh token"),
    )
    .await;
}

#[tokio::test]
async fn rotate_mode_revokes_the_previous_refresh_token() {
    let h = start().await;
    let tokens = h.link(None).await;
    h.sandbox
        .client
        .set_refresh_mode("alice", RefreshMode::Rotate)
        .await
        .expect("mode");
    let body: Value = h.refresh(&tokens.refresh).await.json().await.expect("json");
    let rotated = body["refresh_token"]
        .as_str()
        .expect("rotated refresh token")
        .to_owned();
    assert_ne!(rotated, tokens.refresh);
    expect_json(
        h.refresh(&tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_grant", "Invalid refresh token"),
    )
    .await;
    let body: Value = h.refresh(&rotated).await.json().await.expect("json");
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn clock_expires_access_tokens_and_refresh_tokens_after_six_months() {
    let h = start().await;
    let tokens = h.link(None).await;
    h.sandbox.client.advance_clock(3600).await.expect("clock");
    expect_json(
        h.get("/v1/me", &tokens.access).await,
        StatusCode::UNAUTHORIZED,
        api_error(401, "The access token expired"),
    )
    .await;
    // Refreshing keeps working until 183 days after consent, whatever refreshing happened.
    h.sandbox
        .client
        .advance_clock(182 * 86_400)
        .await
        .expect("clock");
    assert_eq!(h.refresh(&tokens.refresh).await.status(), StatusCode::OK);
    h.sandbox.client.advance_clock(86_400).await.expect("clock");
    expect_json(
        h.refresh(&tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_grant", "Refresh token revoked"),
    )
    .await;
}

#[tokio::test]
async fn revoke_grant_and_expire_access_tokens() {
    let h = start().await;
    let tokens = h.link(None).await;
    assert_eq!(
        h.sandbox
            .client
            .expire_access_tokens("alice")
            .await
            .expect("expire"),
        1
    );
    let response = h.get("/v1/me", &tokens.access).await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("header")
            .contains("invalid_token")
    );
    expect_json(
        response,
        StatusCode::UNAUTHORIZED,
        api_error(401, "The access token expired"),
    )
    .await;
    let body: Value = h.refresh(&tokens.refresh).await.json().await.expect("json");
    let access = body["access_token"].as_str().expect("access").to_owned();
    assert_eq!(h.get("/v1/me", &access).await.status(), StatusCode::OK);

    assert_eq!(
        h.sandbox
            .client
            .revoke_grant("alice")
            .await
            .expect("revoke"),
        1
    );
    expect_json(
        h.refresh(&tokens.refresh).await,
        StatusCode::BAD_REQUEST,
        oauth_error("invalid_grant", "Refresh token revoked"),
    )
    .await;
    expect_json(
        h.get("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        api_error(401, "Invalid access token"),
    )
    .await;
    // A new consent works again.
    let tokens = h.link(None).await;
    assert_eq!(
        h.get("/v1/me", &tokens.access).await.status(),
        StatusCode::OK
    );
}
