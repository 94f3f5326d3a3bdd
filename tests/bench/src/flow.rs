//! Alexa's and a browser's side of the OAuth flows, walked by hand with a client that never follows redirects:
//! linking a sandbox user through the broker, the broker's refresh grant, and a Spotify token straight from
//! the sandbox.

use anyhow::{Context, bail};
use reqwest::{Client, Response, StatusCode};
use serde::Deserialize;
use url::Url;

/// Where the sandbox sends the browser back when the bench asks it for a Spotify token directly; never
/// contacted.
const DIRECT_REDIRECT_URI: &str = "http://127.0.0.1:9/bench-callback";

/// The scopes of the Spotify tokens the bench asks the sandbox for directly.
const DIRECT_SCOPES: &str =
    "user-read-private user-read-playback-state user-read-currently-playing playlist-read-private";

/// A broker token pair, as Alexa holds it.
#[derive(Debug, Clone)]
pub struct BrokerTokens {
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
}

/// Alexa's registration at the broker, and the calls Alexa makes with it.
#[derive(Debug, Clone)]
pub struct AlexaClient {
    pub http: Client,
    pub broker_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

impl AlexaClient {
    /// Links `sandbox_user`: broker `/oauth/authorize` → sandbox `/authorize` (as that user) → broker callback
    /// → Alexa's redirect URI with a code → `/oauth/token`.
    pub async fn link(&self, sandbox_user: &str) -> anyhow::Result<BrokerTokens> {
        let state = uuid::Uuid::new_v4().simple().to_string();
        let mut authorize = Url::parse(&format!("{}/oauth/authorize", self.broker_url))
            .context("broker authorize url")?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("state", &state);
        let authorized = self.http.get(authorize).send().await;
        // The browser's linking cookie: the broker's callback requires it.
        let cookie = authorized
            .as_ref()
            .ok()
            .and_then(|r| r.headers().get(reqwest::header::SET_COOKIE))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .context("broker authorize set no linking cookie")?;
        let mut to_spotify = redirect(authorized, "broker authorize")?;
        to_spotify
            .query_pairs_mut()
            .append_pair("sandbox_user", sandbox_user);
        let to_callback = redirect(self.http.get(to_spotify).send().await, "sandbox authorize")?;
        let callback = self
            .http
            .get(to_callback)
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await;
        let to_alexa = redirect(callback, "broker callback")?;
        if !to_alexa.as_str().starts_with(&self.redirect_uri) {
            bail!("broker callback redirected to {to_alexa}, not to alexa's redirect uri");
        }
        if query_value(&to_alexa, "state").as_deref() != Some(state.as_str()) {
            bail!("broker callback lost the state: {to_alexa}");
        }
        let code = query_value(&to_alexa, "code").with_context(|| {
            format!(
                "no code at alexa's redirect uri (error {:?})",
                query_value(&to_alexa, "error")
            )
        })?;
        let answer = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &self.redirect_uri),
            ])
            .await
            .context("redeeming the authorization code")?;
        Ok(answer)
    }

    /// The refresh-token grant: a new pair for `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<BrokerTokens> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<BrokerTokens> {
        let response = self
            .http
            .post(format!("{}/oauth/token", self.broker_url))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(form)
            .send()
            .await
            .context("calling the broker token endpoint")?;
        let answer: TokenAnswer = ok_json(response, "broker token endpoint").await?;
        Ok(BrokerTokens {
            access_token: answer.access_token,
            refresh_token: answer
                .refresh_token
                .context("the broker token answer has no refresh_token")?,
        })
    }
}

/// A Spotify access token for `user` straight from the sandbox's accounts service (the broker never hands
/// out Spotify tokens).
pub async fn sandbox_access_token(
    http: &Client,
    sandbox_url: &str,
    client_id: &str,
    client_secret: &str,
    user: &str,
) -> anyhow::Result<String> {
    let mut authorize =
        Url::parse(&format!("{sandbox_url}/authorize")).context("sandbox authorize url")?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", DIRECT_REDIRECT_URI)
        .append_pair("state", "bench")
        .append_pair("scope", DIRECT_SCOPES)
        .append_pair("sandbox_user", user);
    let back = redirect(http.get(authorize).send().await, "sandbox authorize")?;
    let code = query_value(&back, "code").context("no code from the sandbox")?;
    let response = http
        .post(format!("{sandbox_url}/api/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", DIRECT_REDIRECT_URI),
        ])
        .send()
        .await
        .context("calling the sandbox token endpoint")?;
    let answer: TokenAnswer = ok_json(response, "sandbox token endpoint").await?;
    Ok(answer.access_token)
}

/// The `Location` of a redirect answer, resolved against the request URL.
fn redirect(response: reqwest::Result<Response>, step: &str) -> anyhow::Result<Url> {
    let response = response.with_context(|| format!("calling {step}"))?;
    let status = response.status();
    if !status.is_redirection() {
        bail!("{step} answered {status}, expected a redirect");
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("{step} redirect has no location"))?;
    response
        .url()
        .join(location)
        .with_context(|| format!("{step} redirected to a bad location {location:?}"))
}

fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Reads a `200` JSON answer, or fails with the status and the start of the body.
pub async fn ok_json<T: serde::de::DeserializeOwned>(
    response: Response,
    what: &str,
) -> anyhow::Result<T> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading the {what} answer"))?;
    if status != StatusCode::OK {
        bail!("{what} answered {status}: {}", snippet(&body));
    }
    serde_json::from_slice(&body)
        .with_context(|| format!("{what} answer is not the expected json: {}", snippet(&body)))
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}
