//! "Why isn't Spotify working?": the exact current cause, from the link's status at the broker and
//! the last trouble the skill saw for this user, with the fix on a card.

use super::link_memory::TroubleKind;
use super::{Conversation, Turn};
use crate::alexa::response::Answer;
use crate::broker::BrokerError;
use crate::deadline::Deadline;
use crate::i18n::Arg;
use crate::identifiers::AlexaAccessToken;

impl Conversation {
    pub(super) async fn troubleshoot(
        &self,
        turn: &Turn,
        token: &AlexaAccessToken,
        deadline: Deadline,
    ) -> Answer {
        let m = &turn.m;
        let title = m.text("trouble-card-title", &[]);
        let relink =
            || Answer::tell(m.speak("trouble-relink-required", &[])).with_link_account_card();
        let info = match self.fresh_link(turn, token, deadline).await {
            Ok(info) if info.needs_relink() => return relink(),
            Ok(info) => info,
            Err(BrokerError::RelinkRequired) => {
                if let Some(user) = &turn.caller.user {
                    self.memory.forget(user).await;
                }
                return relink();
            }
            Err(BrokerError::AppNotPermitted) => {
                return Answer::tell(m.speak("trouble-app-not-permitted", &[]))
                    .with_card(title, m.text("fix-app-not-permitted", &[]));
            }
            Err(error) => return self.failed(turn, error).await,
        };
        let now = self.memory.now();
        let trouble = match &turn.caller.user {
            Some(user) => self.memory.trouble(user).await,
            None => None,
        };
        let minutes_until = |until: Option<chrono::DateTime<chrono::Utc>>| {
            until
                .map(|u| (u - now).num_seconds())
                .filter(|s| *s > 0)
                .map(|s| (s + 59) / 60)
        };
        if let Some(trouble) = trouble {
            let told = |speech: &str, fix: &str, args: &[(&str, Arg<'_>)]| {
                Answer::tell(m.speak(speech, args)).with_card(title.clone(), m.text(fix, args))
            };
            return match trouble.kind {
                TroubleKind::PremiumRequired => told("trouble-premium", "fix-premium", &[]),
                TroubleKind::NoDevice => told("trouble-no-device", "fix-no-device", &[]),
                TroubleKind::AppNotPermitted => {
                    told("trouble-app-not-permitted", "fix-app-not-permitted", &[])
                }
                TroubleKind::Cooldown => match minutes_until(trouble.until) {
                    Some(minutes) => told(
                        "trouble-cooldown",
                        "fix-cooldown",
                        &[("minutes", Arg::Number(minutes))],
                    ),
                    None => told("trouble-cooldown-over", "fix-none", &[]),
                },
                TroubleKind::QuotaExceeded => match minutes_until(trouble.until) {
                    Some(minutes) => told(
                        "trouble-quota",
                        "fix-quota",
                        &[("minutes", Arg::Number(minutes))],
                    ),
                    None => told("trouble-cooldown-over", "fix-quota", &[]),
                },
            };
        }
        if self.memory.relink_soon(&info) {
            let days = info
                .relink_due_at
                .map(|due| (due - now).num_days().max(1))
                .unwrap_or(1);
            return Answer::tell(m.speak("trouble-relink-soon", &[("days", Arg::Number(days))]))
                .with_link_account_card();
        }
        Answer::tell(m.speak("trouble-none", &[])).with_card(title, m.text("fix-none", &[]))
    }
}
