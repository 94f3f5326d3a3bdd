//! Skill events: a disabled skill revokes the link at the broker; a new link is acknowledged.

use super::{Caller, Conversation, Reply};
use crate::alexa::response::Answer;
use crate::broker::BrokerError;
use crate::deadline::Deadline;

impl Conversation {
    /// `AlexaSkillEvent.SkillDisabled`: unlink the user the same way an operator revocation does.
    pub(crate) async fn skill_disabled(&self, caller: &Caller, deadline: Deadline) -> Reply {
        let user = caller
            .user
            .as_ref()
            .map(|u| u.as_str())
            .unwrap_or("unknown");
        if let Some(user) = &caller.user {
            self.memory.forget(user).await;
        }
        let Some(token) = &caller.token else {
            tracing::info!(
                user_id = user,
                "skill disabled by a user who was not linked"
            );
            return Reply::Answer(Answer::acknowledge());
        };
        match self.broker.revoke(token, deadline).await {
            Ok(()) => {
                tracing::info!(user_id = user, "skill disabled; link revoked");
                Reply::Answer(Answer::acknowledge())
            }
            Err(BrokerError::RelinkRequired | BrokerError::NotFound) => {
                tracing::info!(user_id = user, "skill disabled; link was already gone");
                Reply::Answer(Answer::acknowledge())
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(user_id = user, error = %error, "skill disabled; revocation failed, asking Alexa to redeliver");
                Reply::Redeliver
            }
            Err(error) => {
                tracing::error!(user_id = user, error = %error, "skill disabled; revocation refused");
                Reply::Answer(Answer::acknowledge())
            }
        }
    }

    /// `AlexaSkillEvent.SkillAccountLinked`: logged by user id (never the token).
    pub(crate) async fn account_linked(&self, caller: &Caller) -> Reply {
        if let Some(user) = &caller.user {
            self.memory.forget(user).await;
        }
        tracing::info!(
            user_id = caller
                .user
                .as_ref()
                .map(|u| u.as_str())
                .unwrap_or("unknown"),
            "account linked"
        );
        Reply::Answer(Answer::acknowledge())
    }
}
