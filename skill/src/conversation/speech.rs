//! What the skill says when something stands in the way: not linked, a broker error, no time left.

use crate::alexa::response::Answer;
use crate::broker::BrokerError;

/// The user has not linked (no `accessToken`): speech and the LinkAccount card.
pub fn not_linked() -> Answer {
    Answer::tell("To use this skill, link your Spotify account. I sent a card to the Alexa app.")
        .with_link_account_card()
}

/// The link must be renewed: speech and the LinkAccount card.
pub fn relink() -> Answer {
    Answer::tell(
        "Your Spotify account needs to be linked again. I sent a card to the Alexa app so you can link it.",
    )
    .with_link_account_card()
}

/// The answer to give when time runs out before the broker does.
pub fn too_slow() -> Answer {
    Answer::tell(
        "Sorry, Spotify is taking too long to answer right now. Please try again in a moment.",
    )
}

/// The gentle relink reminder added to an answer.
pub const RELINK_REMINDER: &str = "By the way, your Spotify link will expire soon. To keep things working, link your account again from the card in the Alexa app.";

/// One helpful answer per broker error; `relink_required` always carries the LinkAccount card.
pub fn for_error(error: &BrokerError) -> Answer {
    match error {
        BrokerError::RelinkRequired => relink(),
        BrokerError::NoActiveDevice => Answer::tell(
            "I couldn't find an active Spotify device. Open Spotify on your phone, computer or speaker, play something, then ask me again.",
        ),
        BrokerError::PremiumRequired => Answer::tell(
            "Controlling playback needs Spotify Premium. I can still tell you what's playing and list your playlists.",
        ),
        BrokerError::RateLimited { retry_after_s } => Answer::tell(match retry_after_s {
            Some(s) if *s <= 1 => {
                "Spotify is busy right now. Please try again in a second.".to_owned()
            }
            Some(s) if *s < 60 => {
                format!("Spotify is busy right now. Please try again in {s} seconds.")
            }
            Some(s) if *s < 120 => {
                "Spotify is busy right now. Please try again in a minute.".to_owned()
            }
            Some(s) => format!(
                "Spotify is busy right now. Please try again in about {} minutes.",
                s.div_ceil(60)
            ),
            None => "Spotify is busy right now. Please try again in a little while.".to_owned(),
        }),
        BrokerError::UpstreamUnavailable => {
            Answer::tell("Spotify isn't responding right now. Please try again in a little while.")
        }
        BrokerError::Unavailable => Answer::tell(
            "I'm having trouble reaching your linked account right now. Please try again in a few minutes.",
        ),
        BrokerError::AppNotPermitted => Answer::tell(
            "Spotify isn't letting this skill use your account yet. Linking again won't fix this; the skill's owner has to allow your account first.",
        ),
        BrokerError::Forbidden => Answer::tell("Spotify didn't allow that request."),
        BrokerError::NotFound => {
            Answer::tell("Spotify couldn't find that. It may have been removed.")
        }
        BrokerError::BadRequest | BrokerError::Conflict => {
            Answer::tell("Sorry, Spotify couldn't do that.")
        }
        BrokerError::ServiceUnauthorized => Answer::tell(
            "Sorry, this skill isn't set up correctly right now. Please try again later.",
        ),
        BrokerError::DeadlineExceeded => too_slow(),
        BrokerError::Transport(_) | BrokerError::Unexpected { .. } => {
            Answer::tell("Sorry, I couldn't reach Spotify just now. Please try again in a moment.")
        }
    }
}

/// Logs a broker error at the level it deserves (operator problems loudly).
pub fn log_error(error: &BrokerError) {
    match error {
        BrokerError::ServiceUnauthorized | BrokerError::AppNotPermitted => {
            tracing::error!(error = %error, "broker call failed; operator action needed");
        }
        BrokerError::Transport(_)
        | BrokerError::Unexpected { .. }
        | BrokerError::Unavailable
        | BrokerError::UpstreamUnavailable
        | BrokerError::DeadlineExceeded
        | BrokerError::RateLimited { .. } => {
            tracing::warn!(error = %error, "broker call failed");
        }
        _ => tracing::info!(error = %error, "broker call refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alexa::response::CardRequest;

    fn speech(answer: &Answer) -> String {
        answer.speech.clone().unwrap_or_default()
    }

    #[test]
    fn relink_and_not_linked_always_carry_the_link_account_card() {
        assert_eq!(not_linked().card, Some(CardRequest::LinkAccount));
        assert_eq!(
            for_error(&BrokerError::RelinkRequired).card,
            Some(CardRequest::LinkAccount)
        );
    }

    #[test]
    fn every_error_has_its_own_answer() {
        let errors = [
            BrokerError::RelinkRequired,
            BrokerError::ServiceUnauthorized,
            BrokerError::Forbidden,
            BrokerError::AppNotPermitted,
            BrokerError::PremiumRequired,
            BrokerError::NoActiveDevice,
            BrokerError::NotFound,
            BrokerError::BadRequest,
            BrokerError::RateLimited {
                retry_after_s: Some(30),
            },
            BrokerError::UpstreamUnavailable,
            BrokerError::Unavailable,
            BrokerError::DeadlineExceeded,
        ];
        let mut seen = std::collections::BTreeSet::new();
        for error in &errors {
            assert!(
                seen.insert(speech(&for_error(error))),
                "{error:?} reuses speech"
            );
        }
        assert!(speech(&for_error(&BrokerError::NoActiveDevice)).contains("Open Spotify"));
        assert!(speech(&for_error(&BrokerError::PremiumRequired)).contains("Premium"));
        assert!(
            speech(&for_error(&BrokerError::RateLimited {
                retry_after_s: Some(30)
            }))
            .contains("30 seconds")
        );
        assert!(
            speech(&for_error(&BrokerError::RateLimited {
                retry_after_s: None
            }))
            .contains("busy")
        );
        assert!(
            speech(&for_error(&BrokerError::UpstreamUnavailable))
                .contains("Spotify isn't responding")
        );
    }
}
