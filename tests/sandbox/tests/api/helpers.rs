//! Starting a sandbox on port 0 and walking the authorization-code flow against it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use spotify_sandbox::{RunningSandbox, SandboxConfig, spawn};

pub const REDIRECT: &str = "https://broker.test/oauth/spotify/callback";
pub const ALL_SCOPES: &str = "user-read-private user-read-email user-read-playback-state \
    user-modify-playback-state user-read-currently-playing playlist-read-private";
pub const VERIFIER: &str = "sandbox-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

pub struct Harness {
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub scope: String,
}

pub async fn start() -> Harness {
    start_with(SandboxConfig::default()).await
}

pub async fn start_with(config: SandboxConfig) -> Harness {
    let sandbox = spawn(
        SandboxConfig {
            workers: 1,
            ..config
        },
        "127.0.0.1:0",
    )
    .await
    .expect("sandbox starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Harness { sandbox, http }
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        self.sandbox.url(path)
    }

    /// `GET /authorize` with the usual parameters plus `extra`; returns the raw response (no redirects followed).
    pub async fn authorize(&self, extra: &[(&str, &str)]) -> Response {
        let mut query: Vec<(&str, &str)> = vec![
            ("client_id", self.sandbox.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("state", "st-123"),
            ("scope", ALL_SCOPES),
        ];
        for (k, v) in extra {
            query.retain(|(key, _)| key != k);
            query.push((k, v));
        }
        self.http
            .get(self.url("/authorize"))
            .query(&query)
            .send()
            .await
            .expect("authorize")
    }

    /// The `code` of a successful authorize redirect.
    pub async fn code(&self, extra: &[(&str, &str)]) -> String {
        let response = self.authorize(extra).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let url = url::Url::parse(&location).expect("redirect url");
        assert!(location.starts_with(REDIRECT));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert!(pairs.contains(&("state".to_owned(), "st-123".to_owned())));
        pairs
            .into_iter()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v)
            .expect("code in redirect")
    }

    /// `POST /api/token` with a form and optional Basic credentials.
    pub async fn token(&self, form: &[(&str, &str)], basic_auth: bool) -> Response {
        let mut request = self.http.post(self.url("/api/token")).form(form);
        if basic_auth {
            request = request.header(
                "Authorization",
                basic(&self.sandbox.client_id, &self.sandbox.client_secret),
            );
        }
        request.send().await.expect("token call")
    }

    /// Links `user` (default user when `None`) with all scopes, confidential client, no PKCE.
    pub async fn link(&self, user: Option<&str>) -> Tokens {
        let extra: Vec<(&str, &str)> = user.map(|u| vec![("sandbox_user", u)]).unwrap_or_default();
        let code = self.code(&extra).await;
        let response = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                ],
                true,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        Tokens {
            access: body["access_token"].as_str().expect("access").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh").to_owned(),
            scope: body["scope"].as_str().expect("scope").to_owned(),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            true,
        )
        .await
    }

    /// A Web API call with a bearer token and optional JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("api call")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.api(Method::GET, path, token, None).await
    }
}

/// Asserts a response's status and JSON body.
pub async fn expect_json(response: Response, status: StatusCode, body: Value) {
    assert_eq!(response.status(), status);
    let actual: Value = response.json().await.expect("json body");
    assert_eq!(actual, body);
}

pub fn oauth_error(error: &str, description: &str) -> Value {
    serde_json::json!({ "error": error, "error_description": description })
}

pub fn api_error(status: u16, message: &str) -> Value {
    serde_json::json!({ "error": { "status": status, "message": message } })
}
