//! Skill events: a disabled skill always revokes the link at the broker; a new link is bound to the
//! user at the broker at once.

use super::{Caller, Conversation, Reply};
use crate::alexa::response::Answer;
use crate::broker::{BrokerError, ForUser};
use crate::deadline::Deadline;

impl Conversation {
    /// `AlexaSkillEvent.SkillDisabled`: unlink the user, whether or not the event carries a token
    /// (without one, the broker finds the link by the user id it bound earlier). A failure the
    /// broker may recover from answers 5xx, so that Alexa redelivers the event.
    pub(crate) async fn skill_disabled(&self, caller: &Caller, deadline: Deadline) -> Reply {
        let user = caller
            .user
            .as_ref()
            .map(|u| u.as_str())
            .unwrap_or("unknown");
        if let Some(user) = &caller.user {
            self.memory.forget(user).await;
        }
        if caller.user.is_none() && caller.token.is_none() {
            tracing::warn!("skill disabled by a user alexa did not name; nothing to revoke");
            return Reply::Answer(Answer::acknowledge());
        }
        let who = ForUser {
            token: caller.token.as_ref(),
            user: caller.user.as_ref(),
        };
        match self.broker.revoke(who, deadline).await {
            Ok(()) => {
                tracing::info!(
                    user_id = user,
                    with_token = caller.token.is_some(),
                    "skill disabled; link revoked"
                );
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

    /// `AlexaSkillEvent.SkillAccountLinked`: asks the broker for the new link with the event's token
    /// and the user id, which binds the user id to the link there (so that a later `SkillDisabled`
    /// without a usable token still finds it). A transient failure answers 5xx for redelivery.
    pub(crate) async fn account_linked(&self, caller: &Caller, deadline: Deadline) -> Reply {
        let user = caller
            .user
            .as_ref()
            .map(|u| u.as_str())
            .unwrap_or("unknown");
        if let Some(user) = &caller.user {
            self.memory.forget(user).await;
        }
        let Some(token) = &caller.token else {
            tracing::warn!(
                user_id = user,
                "account linked without a token in the event"
            );
            return Reply::Answer(Answer::acknowledge());
        };
        match self
            .broker
            .link(ForUser::new(token, caller.user.as_ref()), deadline)
            .await
        {
            Ok(info) => {
                if let Some(user) = &caller.user {
                    self.memory.remember(user, info).await;
                }
                tracing::info!(user_id = user, "account linked; user bound at the broker");
                Reply::Answer(Answer::acknowledge())
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(user_id = user, error = %error, "account linked; binding failed, asking Alexa to redeliver");
                Reply::Redeliver
            }
            Err(error) => {
                tracing::warn!(user_id = user, error = %error, "account linked; the broker refused the new token");
                Reply::Answer(Answer::acknowledge())
            }
        }
    }
}
