//! The skill's side of the conversation: from a verified Alexa request to an answer.

mod events;
pub mod follow_up;
mod handlers;
pub mod intents;
pub mod link_memory;
pub mod playlist_match;
pub mod search;
pub mod speech;
mod troubleshoot;

use std::sync::Arc;

use crate::alexa::request::{Request, RequestEnvelope};
use crate::alexa::response::Answer;
use crate::broker::BrokerClient;
use crate::deadline::Deadline;
use crate::i18n::{Locale, Messages};
use crate::identifiers::{AlexaAccessToken, UserId};
use crate::verify::clock::Clock;
use follow_up::Pending;
pub use intents::Intent;
use link_memory::LinkMemory;

/// What to send back to Alexa.
#[derive(Debug)]
pub enum Reply {
    /// An answer (possibly empty).
    Answer(Answer),
    /// A skill event that could not be handled now; answering 5xx makes Alexa redeliver it.
    Redeliver,
}

/// The conversation logic and what it needs: the broker and the memory of links.
#[derive(Debug, Clone)]
pub struct Conversation {
    broker: BrokerClient,
    memory: LinkMemory,
}

/// Who is asking, as far as one request tells.
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) user: Option<UserId>,
    pub(crate) token: Option<AlexaAccessToken>,
}

impl Caller {
    /// The user and token of `envelope`; for `SkillAccountLinked`, the new token in the event's body
    /// comes first.
    fn from_envelope(envelope: &RequestEnvelope) -> Self {
        let user = envelope.user();
        let event_token = match &envelope.request {
            Request::SkillAccountLinked(event) => {
                event.body.as_ref().and_then(|b| b.access_token.as_deref())
            }
            _ => None,
        };
        Self {
            user: UserId::parse(&user.user_id).ok(),
            token: event_token
                .or(user.access_token.as_deref())
                .and_then(|t| AlexaAccessToken::parse(t).ok()),
        }
    }
}

/// One turn of the conversation: who asks, in which language, and what the skill asked last.
#[derive(Debug)]
pub(crate) struct Turn {
    pub(crate) caller: Caller,
    pub(crate) m: Messages,
    pub(crate) pending: Option<Pending>,
}

impl Conversation {
    /// A conversation talking to `broker`, reminding about relinks within `relink_window`.
    pub fn new(
        broker: BrokerClient,
        relink_window: chrono::Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            broker,
            memory: LinkMemory::new(relink_window, clock),
        }
    }

    /// Answers one verified request; every broker call is bounded by `deadline`.
    pub async fn respond(&self, envelope: &RequestEnvelope, deadline: Deadline) -> Reply {
        let caller = Caller::from_envelope(envelope);
        let locale = envelope.locale();
        let turn = Turn {
            caller,
            m: Messages::new(Locale::from_tag(locale)),
            pending: Pending::from_attributes(envelope.session_attributes()),
        };
        let caller = &turn.caller;
        match &envelope.request {
            Request::LaunchRequest(_) => {
                tracing::info!(
                    request_type = "LaunchRequest",
                    locale = turn.m.locale().tag(),
                    "answering"
                );
                Reply::Answer(self.launch(&turn, deadline).await)
            }
            Request::IntentRequest(request) => {
                tracing::info!(request_type = "IntentRequest", intent = %request.intent.name, locale = turn.m.locale().tag(), "answering");
                let intent = Intent::from_request(&request.intent);
                Reply::Answer(self.intent(&turn, intent, deadline).await)
            }
            Request::SessionEndedRequest(ended) => {
                tracing::info!(
                    request_type = "SessionEndedRequest",
                    reason = ended.reason.as_deref().unwrap_or("unknown"),
                    error_type = ended.error.as_ref().and_then(|e| e.kind.as_deref()),
                    error_message = ended.error.as_ref().and_then(|e| e.message.as_deref()),
                    "session ended"
                );
                Reply::Answer(Answer::acknowledge())
            }
            Request::ExceptionEncountered(exception) => {
                tracing::error!(
                    request_type = "System.ExceptionEncountered",
                    error_type = exception.error.as_ref().and_then(|e| e.kind.as_deref()),
                    error_message = exception.error.as_ref().and_then(|e| e.message.as_deref()),
                    "alexa reported an error with a previous answer"
                );
                Reply::Answer(Answer::acknowledge())
            }
            Request::SkillDisabled(_) => self.skill_disabled(caller, deadline).await,
            Request::SkillAccountLinked(_) => self.account_linked(caller, deadline).await,
            Request::SkillEnabled(_) | Request::Other => {
                tracing::info!("acknowledging a request type the skill does not act on");
                Reply::Answer(Answer::acknowledge())
            }
        }
    }
}
