//! The skill's Prometheus families (DESIGN.md flow 7), one function per event so that each name and its
//! labels live here only. Label values come from closed sets: never a token, a user id or what was said.

use std::time::Duration;

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};

use crate::alexa::request::Request;
use crate::broker::BrokerError;
use crate::conversation::Intent;

pub const REQUESTS: &str = "skill_requests_total";
pub const REQUEST_DURATION: &str = "skill_request_duration_seconds";
pub const BROKER_CALLS: &str = "skill_broker_calls_total";
pub const BROKER_CALL_DURATION: &str = "skill_broker_call_duration_seconds";
pub const VERIFICATION_REFUSALS: &str = "skill_verification_refusals_total";

/// Describes every family once, so that `/metrics` carries `HELP` and `TYPE` lines for each.
pub fn describe() {
    describe_counter!(
        REQUESTS,
        "Alexa requests, by kind (launch, intent name, event) and outcome"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "time to answer an Alexa request, by kind"
    );
    describe_counter!(
        BROKER_CALLS,
        "calls to the token broker, by outcome (ok or the broker's error code)"
    );
    describe_histogram!(
        BROKER_CALL_DURATION,
        Unit::Seconds,
        "time the broker took to answer"
    );
    describe_counter!(
        VERIFICATION_REFUSALS,
        "requests refused as not provably from Alexa for this skill, by reason"
    );
}

/// What kind of request it was: `launch`, the intent's name (when the skill knows it), or the event.
pub fn request_kind(request: &Request) -> String {
    match request {
        Request::LaunchRequest(_) => "launch".to_owned(),
        Request::IntentRequest(intent) => {
            if matches!(Intent::from_request(&intent.intent), Intent::Unknown(_)) {
                "unknown_intent".to_owned()
            } else {
                intent.intent.name.clone()
            }
        }
        Request::SessionEndedRequest(_) => "session_ended".to_owned(),
        Request::ExceptionEncountered(_) => "exception_encountered".to_owned(),
        Request::SkillDisabled(_) => "skill_disabled".to_owned(),
        Request::SkillAccountLinked(_) => "skill_account_linked".to_owned(),
        Request::SkillEnabled(_) => "skill_enabled".to_owned(),
        Request::Other => "other".to_owned(),
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered.
    Answered,
    /// Answered with a LinkAccount card: the user must link (again).
    LinkAccount,
    /// The time budget ran out; the user hears "try again".
    TooSlow,
    /// A skill event was refused so that Alexa delivers it again.
    Redeliver,
    /// Not provably from Alexa for this skill.
    Refused,
    /// Not an Alexa request.
    Malformed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::LinkAccount => "link_account",
            Self::TooSlow => "too_slow",
            Self::Redeliver => "redeliver",
            Self::Refused => "refused",
            Self::Malformed => "malformed",
        }
    }
}

/// One Alexa request; `kind` is [`request_kind`] (or `unverified` before the body could be trusted).
pub fn request(kind: String, outcome: Outcome, elapsed: Duration) {
    counter!(REQUESTS, "kind" => kind.clone(), "outcome" => outcome.as_str()).increment(1);
    histogram!(REQUEST_DURATION, "kind" => kind).record(elapsed.as_secs_f64());
}

/// One call to the broker.
pub fn broker_call(outcome: Result<(), &BrokerError>, elapsed: Duration) {
    let outcome = match outcome {
        Ok(()) => "ok",
        Err(err) => err.label(),
    };
    counter!(BROKER_CALLS, "outcome" => outcome).increment(1);
    histogram!(BROKER_CALL_DURATION).record(elapsed.as_secs_f64());
}

/// A request refused by verification; `reason` is the refusal's code.
pub fn verification_refused(reason: &'static str) {
    counter!(VERIFICATION_REFUSALS, "reason" => reason).increment(1);
}
