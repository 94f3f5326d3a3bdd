//! The scenarios: what each one sends, to whom, and what counts as success.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::{Client, Response};
use tokio::sync::Mutex;

use crate::flow::{AlexaClient, BrokerTokens, snippet};
use crate::load::{LoadSettings, Measurement, closed_loop, sequential};

/// Every scenario, in the order they run (the refresh grant and link flow last: they add rows and links).
pub const ALL: [&str; 8] = [
    SANDBOX_DIRECT,
    BROKER_CACHED,
    SANDBOX_DIRECT_SEARCH,
    BROKER_UNCACHED,
    SKILL_WHATS_PLAYING,
    SKILL_HELP,
    TOKEN_REFRESH_GRANT,
    LINK_FLOW,
];
pub const SANDBOX_DIRECT: &str = "sandbox-direct";
pub const BROKER_CACHED: &str = "broker-cached";
pub const SANDBOX_DIRECT_SEARCH: &str = "sandbox-direct-search";
pub const BROKER_UNCACHED: &str = "broker-uncached";
pub const SKILL_WHATS_PLAYING: &str = "skill-whats-playing";
pub const SKILL_HELP: &str = "skill-help";
pub const TOKEN_REFRESH_GRANT: &str = "token-refresh-grant";
pub const LINK_FLOW: &str = "link-flow";

/// The skill id the bench's skill answers for.
pub const SKILL_ID: &str = "amzn1.ask.skill.00000000-0000-0000-0000-0000000be7c4";

/// What the scenarios share: one HTTP client (keep-alive pool, no redirects) and the linked users.
#[derive(Debug)]
pub struct Shared {
    pub http: Client,
    pub sandbox_url: String,
    pub broker_url: String,
    pub service_token: String,
    /// Spotify access tokens from the sandbox, one per user.
    pub spotify_tokens: Vec<String>,
    /// Broker token pairs, one per linked user.
    pub links: Vec<BrokerTokens>,
    pub alexa: AlexaClient,
    /// The skill's base URL, when it runs.
    pub skill_url: Option<String>,
}

/// Reads the whole body of a `2xx` answer (so the connection is reused), or fails with the status.
async fn expect_success(response: reqwest::Result<Response>) -> anyhow::Result<()> {
    let response = response.context("sending")?;
    let status = response.status();
    let body = response.bytes().await.context("reading the body")?;
    if !status.is_success() {
        bail!("answered {status}: {}", snippet(&body));
    }
    Ok(())
}

/// GET `{sandbox}/v1/me` with a Spotify token.
pub async fn sandbox_direct(ctx: &Arc<Shared>, load: &LoadSettings) -> anyhow::Result<Measurement> {
    let ctx = ctx.clone();
    let url = format!("{}/v1/me", ctx.sandbox_url);
    closed_loop(load, move |worker, _| {
        let (ctx, url) = (ctx.clone(), url.clone());
        async move {
            let token = &ctx.spotify_tokens[worker % ctx.spotify_tokens.len()];
            expect_success(ctx.http.get(&url).bearer_auth(token).send().await).await
        }
    })
    .await
}

/// GET `{broker}/v1/spotify/me`: answered from the broker's cache after each user's first call.
pub async fn broker_cached(ctx: &Arc<Shared>, load: &LoadSettings) -> anyhow::Result<Measurement> {
    let ctx = ctx.clone();
    let url = format!("{}/v1/spotify/me", ctx.broker_url);
    closed_loop(load, move |worker, _| {
        let (ctx, url) = (ctx.clone(), url.clone());
        async move {
            let link = &ctx.links[worker % ctx.links.len()];
            let sent = ctx
                .http
                .get(&url)
                .bearer_auth(&link.access_token)
                .header("X-Service-Token", &ctx.service_token)
                .send()
                .await;
            expect_success(sent).await
        }
    })
    .await
}

/// A search query no earlier request used, so no cache can answer it.
fn unique_query(number: u64) -> String {
    format!("bench{number}")
}

/// GET `{sandbox}/v1/search?q=<unique>&type=track` with a Spotify token.
pub async fn sandbox_direct_search(
    ctx: &Arc<Shared>,
    load: &LoadSettings,
) -> anyhow::Result<Measurement> {
    let ctx = ctx.clone();
    let url = format!("{}/v1/search", ctx.sandbox_url);
    closed_loop(load, move |worker, number| {
        let (ctx, url) = (ctx.clone(), url.clone());
        async move {
            let token = &ctx.spotify_tokens[worker % ctx.spotify_tokens.len()];
            let sent = ctx
                .http
                .get(&url)
                .query(&[("q", unique_query(number).as_str()), ("type", "track")])
                .bearer_auth(token)
                .send()
                .await;
            expect_success(sent).await
        }
    })
    .await
}

/// GET `{broker}/v1/spotify/search?q=<unique>&type=track`: every request a cache miss that goes upstream.
pub async fn broker_uncached(
    ctx: &Arc<Shared>,
    load: &LoadSettings,
) -> anyhow::Result<Measurement> {
    let ctx = ctx.clone();
    let url = format!("{}/v1/spotify/search", ctx.broker_url);
    closed_loop(load, move |worker, number| {
        let (ctx, url) = (ctx.clone(), url.clone());
        async move {
            let link = &ctx.links[worker % ctx.links.len()];
            let sent = ctx
                .http
                .get(&url)
                .query(&[("q", unique_query(number).as_str()), ("type", "track")])
                .bearer_auth(&link.access_token)
                .header("X-Service-Token", &ctx.service_token)
                .send()
                .await;
            expect_success(sent).await
        }
    })
    .await
}

/// POST `/oauth/token` `grant_type=refresh_token`; each worker follows its own rotation chain.
pub async fn token_refresh_grant(
    ctx: &Arc<Shared>,
    load: &LoadSettings,
) -> anyhow::Result<Measurement> {
    let chains: Arc<Vec<Mutex<String>>> = Arc::new(
        (0..load.concurrency)
            .map(|worker| Mutex::new(ctx.links[worker % ctx.links.len()].refresh_token.clone()))
            .collect(),
    );
    let ctx = ctx.clone();
    closed_loop(load, move |worker, _| {
        let (ctx, chains) = (ctx.clone(), chains.clone());
        async move {
            let mut current = chains[worker].lock().await;
            let rotated = ctx.alexa.refresh(&current).await?;
            *current = rotated.refresh_token;
            Ok(())
        }
    })
    .await
}

/// The whole link flow, `count` times one after the other, each for a fresh sandbox user.
pub async fn link_flow(
    ctx: &Arc<Shared>,
    users: &[String],
    timeout: Duration,
) -> anyhow::Result<Measurement> {
    sequential(users.len(), timeout, |i| {
        let (ctx, user) = (ctx.clone(), users[i].clone());
        async move {
            ctx.alexa.link(&user).await?;
            Ok(())
        }
    })
    .await
}

/// What the skill is asked: "what's playing" needs the broker, help needs nothing but the skill.
#[derive(Debug, Clone, Copy)]
pub enum SkillIntent {
    WhatsPlaying,
    Help,
}

impl SkillIntent {
    fn name(self) -> &'static str {
        match self {
            Self::WhatsPlaying => "WhatsPlayingIntent",
            Self::Help => "AMAZON.HelpIntent",
        }
    }
}

/// An Alexa `IntentRequest` for `intent` from a linked user.
fn intent_request(
    intent: SkillIntent,
    worker: usize,
    number: u64,
    access_token: &str,
) -> serde_json::Value {
    let application = serde_json::json!({ "applicationId": SKILL_ID });
    let user = serde_json::json!({
        "userId": format!("amzn1.ask.account.BENCH{worker:04}"),
        "accessToken": access_token,
    });
    serde_json::json!({
        "version": "1.0",
        "session": {
            "new": true,
            "sessionId": format!("amzn1.echo-api.session.bench-{number}"),
            "application": application,
            "attributes": {},
            "user": user,
        },
        "context": {
            "System": {
                "application": application,
                "user": user,
                "device": { "deviceId": "amzn1.ask.device.BENCH", "supportedInterfaces": {} },
                "apiEndpoint": "https://api.amazonalexa.com",
                "apiAccessToken": "bench.api.access.token",
            }
        },
        "request": {
            "type": "IntentRequest",
            "requestId": format!("amzn1.echo-api.request.bench-{number}"),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "locale": "en-US",
            "dialogState": "COMPLETED",
            "intent": { "name": intent.name(), "confirmationStatus": "NONE", "slots": {} },
        }
    })
}

/// One request to the skill (for "what's playing": skill → broker → sandbox); returns what Alexa would
/// say.
async fn ask_skill(
    ctx: &Shared,
    skill_url: &str,
    intent: SkillIntent,
    worker: usize,
    number: u64,
) -> anyhow::Result<String> {
    let link = &ctx.links[worker % ctx.links.len()];
    let response = ctx
        .http
        .post(format!("{skill_url}/alexa"))
        .json(&intent_request(intent, worker, number, &link.access_token))
        .send()
        .await
        .context("sending")?;
    let status = response.status();
    let body = response.bytes().await.context("reading the body")?;
    if !status.is_success() {
        bail!("answered {status}: {}", snippet(&body));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("not json: {}", snippet(&body)))?;
    let speech = &answer["response"]["outputSpeech"];
    speech["ssml"]
        .as_str()
        .or_else(|| speech["text"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no outputSpeech: {}", snippet(&body)))
}

/// POST `{skill}/alexa` with a linked intent (signature checks off): "what's playing" goes through the
/// broker, help is the skill alone.
pub async fn skill_intent(
    ctx: &Arc<Shared>,
    load: &LoadSettings,
    intent: SkillIntent,
) -> anyhow::Result<Measurement> {
    let skill_url = ctx.skill_url.clone().context("the skill is not running")?;
    let sample = ask_skill(ctx, &skill_url, intent, 0, u64::MAX).await?;
    eprintln!("  the skill says: {sample}");
    let ctx = ctx.clone();
    closed_loop(load, move |worker, number| {
        let (ctx, skill_url) = (ctx.clone(), skill_url.clone());
        async move {
            ask_skill(&ctx, &skill_url, intent, worker, number).await?;
            Ok(())
        }
    })
    .await
}
