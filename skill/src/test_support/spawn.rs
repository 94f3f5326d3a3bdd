//! Starting the real skill on a free port, trusting a test Alexa, with typed helpers to talk to it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::Value;

use super::{AlexaRequest, TestAlexa};
use crate::configuration::Settings;
use crate::startup::Application;
use crate::verify::clock::ShiftedClock;

/// The skill id test skills answer for.
pub const TEST_SKILL_ID: &str = "amzn1.ask.skill.00000000-0000-0000-0000-000000000000";

/// How to start a test skill.
#[derive(Debug, Clone)]
pub struct TestSkillOptions {
    /// `broker.url`.
    pub broker_url: String,
    /// `broker.service_token`.
    pub service_token: String,
    /// `alexa.time_budget_ms`.
    pub time_budget_ms: u64,
    /// Further `SKILL__…` variables.
    pub extra_env: Vec<(String, String)>,
}

impl TestSkillOptions {
    /// Defaults: a 6 s budget, signature checks on.
    pub fn new(broker_url: &str, service_token: &str) -> Self {
        Self {
            broker_url: broker_url.to_owned(),
            service_token: service_token.to_owned(),
            time_budget_ms: 6000,
            extra_env: Vec::new(),
        }
    }
}

/// A running skill that trusts [`TestSkill::alexa`] and reads time from [`TestSkill::clock`]
/// (the real time, shifted when a test advances it, e.g. to reach a relink reminder).
#[derive(Debug)]
pub struct TestSkill {
    /// Where it listens.
    pub address: SocketAddr,
    /// The test Alexa it trusts (signs requests).
    pub alexa: TestAlexa,
    /// Its clock.
    pub clock: Arc<ShiftedClock>,
    http: reqwest::Client,
}

impl TestSkill {
    /// Starts a skill on `127.0.0.1:0` talking to the broker at `broker_url`.
    pub async fn spawn(broker_url: &str, service_token: &str) -> anyhow::Result<Self> {
        Self::spawn_with(TestSkillOptions::new(broker_url, service_token)).await
    }

    /// Starts a skill with options.
    pub async fn spawn_with(options: TestSkillOptions) -> anyhow::Result<Self> {
        crate::telemetry::init_for_tests();
        let mut env = vec![
            ("SKILL__SERVER__BIND".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "SKILL__ALEXA__SKILL_ID".to_owned(),
                TEST_SKILL_ID.to_owned(),
            ),
            ("SKILL__BROKER__URL".to_owned(), options.broker_url.clone()),
            (
                "SKILL__BROKER__SERVICE_TOKEN".to_owned(),
                options.service_token.clone(),
            ),
            (
                "SKILL__ALEXA__TIME_BUDGET_MS".to_owned(),
                options.time_budget_ms.to_string(),
            ),
        ];
        env.extend(options.extra_env.iter().cloned());
        let settings = Settings::load_from(None, env).context("test skill settings")?;
        let alexa = TestAlexa::new()?;
        let clock = Arc::new(ShiftedClock::new());
        let parts = alexa.verifier_parts(clock.clone())?;
        let application = Application::build_with(settings, parts)?;
        let address = application.address();
        tokio::spawn(application.run_until_stopped());
        Ok(Self {
            address,
            alexa,
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// `http://…/alexa`.
    pub fn alexa_url(&self) -> String {
        format!("http://{}/alexa", self.address)
    }

    /// A request builder for this skill from an unlinked user, stamped with the skill's clock.
    pub fn request(&self) -> AlexaRequest {
        use crate::verify::clock::Clock as _;
        AlexaRequest::new(TEST_SKILL_ID).at(self.clock.now())
    }

    /// Posts `body` signed by the test Alexa; returns the status and the JSON body (`Null` if none).
    pub async fn send(&self, body: &Value) -> anyhow::Result<(u16, Value)> {
        let bytes = serde_json::to_vec(body)?;
        let headers = self.alexa.sign(&bytes)?;
        self.send_raw(bytes, &headers.pairs()).await
    }

    /// Posts raw bytes with the given headers (for requests that should be refused).
    pub async fn send_raw(
        &self,
        body: Vec<u8>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .post(self.alexa_url())
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("skill answered non-JSON: {text}"))?
        };
        Ok((status, json))
    }
}
