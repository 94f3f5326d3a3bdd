//! Builders for the JSON bodies Alexa sends, shaped like Amazon's examples.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// One user's requests to one skill.
#[derive(Debug, Clone)]
pub struct AlexaRequest {
    skill_id: String,
    user_id: String,
    access_token: Option<String>,
    timestamp: DateTime<Utc>,
    attributes: Option<Value>,
    locale: String,
}

impl AlexaRequest {
    /// Requests for `skill_id` from a user who has not linked, stamped now.
    pub fn new(skill_id: &str) -> Self {
        Self {
            skill_id: skill_id.to_owned(),
            user_id: "amzn1.ask.account.TESTUSER".into(),
            access_token: None,
            timestamp: Utc::now(),
            attributes: None,
            locale: "en-US".into(),
        }
    }

    /// From a linked user holding `token`.
    pub fn linked(mut self, token: &str) -> Self {
        self.access_token = Some(token.to_owned());
        self
    }

    /// From the user `user_id`.
    pub fn user(mut self, user_id: &str) -> Self {
        self.user_id = user_id.to_owned();
        self
    }

    /// Stamped `timestamp`.
    pub fn at(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// In `locale` (`request.locale`, en-US unless told).
    pub fn locale(mut self, locale: &str) -> Self {
        self.locale = locale.to_owned();
        self
    }

    /// With session attributes from the previous answer.
    pub fn with_attributes(mut self, attributes: Value) -> Self {
        self.attributes = Some(attributes);
        self
    }

    fn user_json(&self) -> Value {
        match &self.access_token {
            Some(token) => json!({"userId": self.user_id, "accessToken": token}),
            None => json!({"userId": self.user_id}),
        }
    }

    fn envelope(&self, request: Value, with_session: bool) -> Value {
        let application = json!({"applicationId": self.skill_id});
        let mut body = json!({
            "version": "1.0",
            "context": {
                "System": {
                    "application": application,
                    "user": self.user_json(),
                    "device": {"deviceId": "amzn1.ask.device.TESTDEVICE", "supportedInterfaces": {}},
                    "apiEndpoint": "https://api.amazonalexa.com",
                    "apiAccessToken": "test.api.access.token"
                }
            },
            "request": request
        });
        if with_session {
            body["session"] = json!({
                "new": self.attributes.is_none(),
                "sessionId": "amzn1.echo-api.session.TEST",
                "application": application,
                "attributes": self.attributes.clone().unwrap_or_else(|| json!({})),
                "user": self.user_json()
            });
        }
        body
    }

    fn common(&self, kind: &str) -> Value {
        json!({
            "type": kind,
            "requestId": format!("amzn1.echo-api.request.{}", uuid_like()),
            "timestamp": self.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
            "locale": self.locale
        })
    }

    /// A `LaunchRequest`.
    pub fn launch(&self) -> Value {
        self.envelope(self.common("LaunchRequest"), true)
    }

    /// An `IntentRequest` for `name` with slot values.
    pub fn intent(&self, name: &str, slots: &[(&str, &str)]) -> Value {
        let mut request = self.common("IntentRequest");
        let slots: serde_json::Map<String, Value> = slots
            .iter()
            .map(|(slot, value)| {
                (
                    (*slot).to_owned(),
                    json!({"name": slot, "value": value, "confirmationStatus": "NONE", "source": "USER"}),
                )
            })
            .collect();
        request["dialogState"] = json!("COMPLETED");
        request["intent"] = json!({"name": name, "confirmationStatus": "NONE", "slots": slots});
        self.envelope(request, true)
    }

    /// A `SessionEndedRequest` with `reason`.
    pub fn session_ended(&self, reason: &str) -> Value {
        let mut request = self.common("SessionEndedRequest");
        request["reason"] = json!(reason);
        self.envelope(request, true)
    }

    /// A skill event such as `AlexaSkillEvent.SkillDisabled` (no session, as Alexa sends them).
    pub fn event(&self, kind: &str) -> Value {
        let mut request = self.common(kind);
        let stamp = self.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true);
        request["eventCreationTime"] = json!(stamp);
        request["eventPublishingTime"] = json!(stamp);
        request["body"] = match &self.access_token {
            Some(token) if kind.ends_with("SkillAccountLinked") => json!({"accessToken": token}),
            _ => json!({"userInformationPersistenceStatus": "NOT_PERSISTED"}),
        };
        self.envelope(request, false)
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:016x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
