//! Alexa request envelopes: tolerant of fields Amazon adds later, strict where a missing field matters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The whole JSON body Alexa posts to the skill.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestEnvelope {
    /// Protocol version, `"1.0"`.
    #[serde(default)]
    pub version: Option<String>,
    /// Present for requests in a session (not for skill events).
    #[serde(default)]
    pub session: Option<Session>,
    /// The device and user context; always present.
    pub context: Context,
    /// What happened.
    pub request: Request,
}

impl RequestEnvelope {
    /// The user as `context.System.user` names them (present on every request type).
    pub fn user(&self) -> &User {
        &self.context.system.user
    }

    /// The user's locale (`request.locale`), when the request carries one.
    pub fn locale(&self) -> Option<&str> {
        match &self.request {
            Request::LaunchRequest(r) => r.common.locale.as_deref(),
            Request::IntentRequest(r) => r.common.locale.as_deref(),
            _ => None,
        }
    }

    /// Attributes the skill stored in the session on an earlier turn.
    pub fn session_attributes(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.session.as_ref().and_then(|s| s.attributes.as_ref())
    }
}

/// `session`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Whether this is the first request of the session.
    #[serde(default)]
    pub new: bool,
    /// Alexa's session id.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The skill the session belongs to.
    #[serde(default)]
    pub application: Option<Application>,
    /// Attributes echoed back from the previous answer.
    #[serde(default)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The user (same as in `context.System.user`).
    #[serde(default)]
    pub user: Option<User>,
}

/// `context`.
#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    /// `context.System`.
    #[serde(rename = "System")]
    pub system: SystemContext,
}

/// `context.System`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemContext {
    /// The skill the request is for.
    pub application: Application,
    /// The user.
    pub user: User,
    /// The device, when Alexa says which.
    #[serde(default)]
    pub device: Option<Device>,
}

/// `application`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// The skill id (`amzn1.ask.skill.…`).
    pub application_id: String,
}

/// `user`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Alexa's id for the user of this skill.
    pub user_id: String,
    /// The linked token, absent when the user has not linked.
    #[serde(default)]
    pub access_token: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// `device`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Alexa's id for the device.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// Fields every request type carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCommon {
    /// Alexa's id for this request.
    pub request_id: String,
    /// When Alexa sent it.
    #[serde(deserialize_with = "deserialize_timestamp")]
    pub timestamp: DateTime<Utc>,
    /// The user's locale, when given.
    #[serde(default)]
    pub locale: Option<String>,
}

/// `request`, by its `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum Request {
    /// The user opened the skill without asking anything.
    LaunchRequest(LaunchRequest),
    /// The user asked for something.
    IntentRequest(IntentRequest),
    /// The session ended (user, error or timeout).
    SessionEndedRequest(SessionEndedRequest),
    /// A previous answer made Alexa fail.
    #[serde(rename = "System.ExceptionEncountered")]
    ExceptionEncountered(ExceptionEncountered),
    /// The user disabled the skill.
    #[serde(rename = "AlexaSkillEvent.SkillDisabled")]
    SkillDisabled(SkillEvent),
    /// The user finished account linking.
    #[serde(rename = "AlexaSkillEvent.SkillAccountLinked")]
    SkillAccountLinked(SkillEvent),
    /// The user enabled the skill.
    #[serde(rename = "AlexaSkillEvent.SkillEnabled")]
    SkillEnabled(SkillEvent),
    /// Any other event or request type, acknowledged without action.
    #[serde(other)]
    Other,
}

/// Reads a timestamp as Alexa sends it: an ISO 8601 string, or (in some older events) epoch milliseconds.
pub fn deserialize_timestamp<'de, D>(deserializer: D) -> Result<DateTime<Utc>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Millis(i64),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Text(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom),
        Raw::Millis(ms) => DateTime::<Utc>::from_timestamp_millis(ms)
            .ok_or_else(|| serde::de::Error::custom("timestamp out of range")),
    }
}

/// `LaunchRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct LaunchRequest {
    /// Common fields.
    #[serde(flatten)]
    pub common: RequestCommon,
}

/// `IntentRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentRequest {
    /// Common fields.
    #[serde(flatten)]
    pub common: RequestCommon,
    /// `STARTED`, `IN_PROGRESS` or `COMPLETED` when a dialog model is used.
    #[serde(default)]
    pub dialog_state: Option<String>,
    /// The intent Alexa recognized.
    pub intent: Intent,
}

/// `request.intent`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// The intent's name from the interaction model.
    pub name: String,
    /// Slot values by slot name.
    #[serde(default)]
    pub slots: BTreeMap<String, Slot>,
}

impl Intent {
    /// The raw spoken value of a slot, if the user filled it.
    pub fn slot_value(&self, name: &str) -> Option<&str> {
        self.slots
            .get(name)
            .and_then(|s| s.value.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The values entity resolution matched for a slot, best first.
    pub fn resolved_values(&self, name: &str) -> Vec<&str> {
        self.slots
            .get(name)
            .and_then(|s| s.resolutions.as_ref())
            .map(|r| {
                r.resolutions_per_authority
                    .iter()
                    .filter(|a| a.status.code == "ER_SUCCESS_MATCH")
                    .flat_map(|a| a.values.iter().map(|v| v.value.name.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One slot of an intent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// The slot name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the user said, absent when the slot is empty.
    #[serde(default)]
    pub value: Option<String>,
    /// Entity resolution results.
    #[serde(default)]
    pub resolutions: Option<Resolutions>,
}

/// `slot.resolutions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolutions {
    /// One entry per authority (the skill's slot type, dynamic entities).
    #[serde(default)]
    pub resolutions_per_authority: Vec<ResolutionAuthority>,
}

/// One authority's resolution.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolutionAuthority {
    /// The authority's name.
    #[serde(default)]
    pub authority: Option<String>,
    /// `ER_SUCCESS_MATCH`, `ER_SUCCESS_NO_MATCH`, …
    pub status: ResolutionStatus,
    /// Matched values, best first.
    #[serde(default)]
    pub values: Vec<ResolvedValueWrapper>,
}

/// A resolution status.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolutionStatus {
    /// The status code.
    pub code: String,
}

/// `{"value": {...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolvedValueWrapper {
    /// The resolved value.
    pub value: ResolvedValue,
}

/// A resolved slot value.
#[derive(Debug, Clone, Deserialize)]
pub struct ResolvedValue {
    /// The canonical name.
    pub name: String,
    /// The value's id, if it has one.
    #[serde(default)]
    pub id: Option<String>,
}

/// `SessionEndedRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionEndedRequest {
    /// Common fields.
    #[serde(flatten)]
    pub common: RequestCommon,
    /// `USER_INITIATED`, `ERROR` or `EXCEEDED_MAX_REPROMPTS`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Details when the reason is `ERROR`.
    #[serde(default)]
    pub error: Option<AlexaError>,
}

/// An error Alexa reports about the skill's previous answer.
#[derive(Debug, Clone, Deserialize)]
pub struct AlexaError {
    /// E.g. `INVALID_RESPONSE`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Alexa's explanation.
    #[serde(default)]
    pub message: Option<String>,
}

/// `System.ExceptionEncountered`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExceptionEncountered {
    /// Common fields.
    #[serde(flatten)]
    pub common: RequestCommon,
    /// What went wrong.
    #[serde(default)]
    pub error: Option<AlexaError>,
}

/// `AlexaSkillEvent.*` (redelivered for up to an hour, without a session).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillEvent {
    /// Common fields.
    #[serde(flatten)]
    pub common: RequestCommon,
    /// When the event happened; not every event carries it, and its form is not relied on.
    #[serde(default)]
    pub event_creation_time: Option<serde_json::Value>,
    /// The event's own fields (`SkillAccountLinked` carries the new `accessToken` here).
    #[serde(default)]
    pub body: Option<SkillEventBody>,
}

/// `request.body` of a skill event.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillEventBody {
    /// The token account linking just issued (`SkillAccountLinked`).
    #[serde(default)]
    pub access_token: Option<String>,
}

impl std::fmt::Debug for SkillEventBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkillEventBody")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> RequestEnvelope {
        let path = format!("{}/tests/fixtures/alexa/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn parses_the_shared_examples() {
        let launch = example("launch-not-linked.json");
        assert!(matches!(launch.request, Request::LaunchRequest(_)));
        assert!(launch.user().access_token.is_none());

        let intent = example("intent-linked.json");
        let Request::IntentRequest(request) = &intent.request else {
            panic!("not an intent")
        };
        assert_eq!(request.intent.name, "PlayPlaylistIntent");
        assert_eq!(request.intent.slot_value("playlist"), Some("chill evening"));
        assert!(request.intent.resolved_values("playlist").is_empty());
        assert_eq!(intent.user().access_token.as_deref(), Some("bat_EXAMPLE"));

        let ended = example("session-ended.json");
        let Request::SessionEndedRequest(ended) = &ended.request else {
            panic!("not session ended")
        };
        assert_eq!(ended.reason.as_deref(), Some("ERROR"));

        assert!(matches!(
            example("event-skill-disabled.json").request,
            Request::SkillDisabled(_)
        ));
        assert!(matches!(
            example("event-account-linked.json").request,
            Request::SkillAccountLinked(_)
        ));
    }

    #[test]
    fn skill_events_need_no_event_creation_time() {
        for kind in [
            "AlexaSkillEvent.SkillDisabled",
            "AlexaSkillEvent.SkillAccountLinked",
            "AlexaSkillEvent.SkillEnabled",
        ] {
            let body = serde_json::json!({
                "version": "1.0",
                "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}}},
                "request": {"type": kind, "requestId": "r", "timestamp": "2026-11-24T07:00:00Z"}
            });
            let envelope: RequestEnvelope = serde_json::from_value(body)
                .unwrap_or_else(|e| panic!("{kind} without eventCreationTime: {e}"));
            assert!(!matches!(envelope.request, Request::Other), "{kind}");
        }
        // Nor is its form relied on (epoch milliseconds in some older events).
        let odd = serde_json::json!({
            "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}}},
            "request": {"type": "AlexaSkillEvent.SkillDisabled", "requestId": "r",
                        "timestamp": 1790000000000u64, "eventCreationTime": 1790000000000u64}
        });
        let envelope: RequestEnvelope = serde_json::from_value(odd).unwrap();
        assert!(matches!(envelope.request, Request::SkillDisabled(_)));
    }

    #[test]
    fn the_account_linked_event_carries_the_new_token() {
        let Request::SkillAccountLinked(event) = example("event-account-linked.json").request
        else {
            panic!("not account linked")
        };
        assert_eq!(
            event.body.and_then(|b| b.access_token).as_deref(),
            Some("bat_EXAMPLE")
        );
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        let body = serde_json::json!({
            "version": "1.0",
            "newTopLevelField": {"x": 1},
            "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}, "unknown": 1}},
            "request": {"type": "Alexa.Presentation.APL.UserEvent", "requestId": "r", "timestamp": "2026-11-24T07:00:00Z"}
        });
        let envelope: RequestEnvelope = serde_json::from_value(body).unwrap();
        assert!(matches!(envelope.request, Request::Other));
    }

    #[test]
    fn missing_fields_that_matter_are_refused() {
        let no_user = serde_json::json!({
            "context": {"System": {"application": {"applicationId": "a"}}},
            "request": {"type": "LaunchRequest", "requestId": "r", "timestamp": "2026-11-24T07:00:00Z"}
        });
        assert!(serde_json::from_value::<RequestEnvelope>(no_user).is_err());
        let no_intent = serde_json::json!({
            "context": {"System": {"application": {"applicationId": "a"}, "user": {"userId": "u"}}},
            "request": {"type": "IntentRequest", "requestId": "r", "timestamp": "2026-11-24T07:00:00Z"}
        });
        assert!(serde_json::from_value::<RequestEnvelope>(no_intent).is_err());
    }

    #[test]
    fn resolutions_are_read() {
        let slot: Slot = serde_json::from_value(serde_json::json!({
            "name": "playlist", "value": "chill",
            "resolutions": {"resolutionsPerAuthority": [{
                "authority": "x", "status": {"code": "ER_SUCCESS_MATCH"},
                "values": [{"value": {"name": "Chill Evening", "id": "1"}}]
            }]}
        }))
        .unwrap();
        let intent = Intent {
            name: "PlayPlaylistIntent".into(),
            slots: [("playlist".to_owned(), slot)].into_iter().collect(),
        };
        assert_eq!(intent.resolved_values("playlist"), vec!["Chill Evening"]);
    }
}
