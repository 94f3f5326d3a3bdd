//! What the skill says when something stands in the way: not linked, a broker error, no time left.

use crate::alexa::response::Answer;
use crate::broker::BrokerError;
use crate::i18n::{Arg, Messages};

/// The user has not linked (no `accessToken`): speech and the LinkAccount card.
pub fn not_linked(m: &Messages) -> Answer {
    Answer::tell(m.speak("not-linked", &[])).with_link_account_card()
}

/// The link must be renewed: speech and the LinkAccount card.
pub fn relink(m: &Messages) -> Answer {
    Answer::tell(m.speak("relink", &[])).with_link_account_card()
}

/// The answer to give when time runs out before the broker does.
pub fn too_slow(m: &Messages) -> Answer {
    Answer::tell(m.speak("too-slow", &[]))
}

fn minutes(seconds: u64) -> i64 {
    i64::try_from(seconds.div_ceil(60).max(1)).unwrap_or(i64::MAX)
}

/// One helpful answer per broker error; `relink_required` always carries the LinkAccount card.
pub fn for_error(m: &Messages, error: &BrokerError) -> Answer {
    let say = |id: &str| Answer::tell(m.speak(id, &[]));
    match error {
        BrokerError::RelinkRequired => relink(m),
        BrokerError::NoActiveDevice => say("error-no-device"),
        BrokerError::PremiumRequired => say("error-premium"),
        BrokerError::RateLimited { retry_after_s } => match retry_after_s {
            Some(s) if *s <= 1 => say("error-busy-second"),
            Some(s) if *s < 60 => Answer::tell(m.speak(
                "error-busy-seconds",
                &[("seconds", Arg::Number(i64::try_from(*s).unwrap_or(59)))],
            )),
            Some(s) if *s < 120 => say("error-busy-minute"),
            Some(s) => Answer::tell(m.speak(
                "error-busy-minutes",
                &[("minutes", Arg::Number(minutes(*s)))],
            )),
            None => say("error-busy"),
        },
        BrokerError::QuotaExceeded { retry_after_s } => match retry_after_s {
            Some(s) => {
                Answer::tell(m.speak("error-quota", &[("minutes", Arg::Number(minutes(*s)))]))
            }
            None => say("error-quota-unknown"),
        },
        BrokerError::UpstreamUnavailable => say("error-upstream"),
        BrokerError::Unavailable => say("error-unavailable"),
        BrokerError::AppNotPermitted => say("error-app-not-permitted"),
        BrokerError::Forbidden => say("error-forbidden"),
        BrokerError::NotFound => say("error-not-found"),
        BrokerError::BadRequest | BrokerError::Conflict => say("error-bad-request"),
        BrokerError::ServiceUnauthorized => say("error-service"),
        BrokerError::DeadlineExceeded => too_slow(m),
        BrokerError::Transport(_) | BrokerError::Unexpected { .. } => say("error-transport"),
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
        | BrokerError::RateLimited { .. }
        | BrokerError::QuotaExceeded { .. } => {
            tracing::warn!(error = %error, "broker call failed");
        }
        _ => tracing::info!(error = %error, "broker call refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alexa::response::CardRequest;
    use crate::i18n::Locale;

    fn speech(answer: &Answer) -> String {
        answer
            .speech
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn relink_and_not_linked_always_carry_the_link_account_card() {
        for locale in Locale::ALL {
            let m = Messages::new(locale);
            assert_eq!(not_linked(&m).card, Some(CardRequest::LinkAccount));
            assert_eq!(
                for_error(&m, &BrokerError::RelinkRequired).card,
                Some(CardRequest::LinkAccount)
            );
        }
    }

    #[test]
    fn every_error_has_its_own_answer_in_every_locale() {
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
            BrokerError::QuotaExceeded {
                retry_after_s: Some(600),
            },
            BrokerError::UpstreamUnavailable,
            BrokerError::Unavailable,
            BrokerError::DeadlineExceeded,
        ];
        for locale in Locale::ALL {
            let m = Messages::new(locale);
            let mut seen = std::collections::BTreeSet::new();
            for error in &errors {
                let said = speech(&for_error(&m, error));
                assert!(!said.is_empty(), "{locale:?} {error:?}");
                assert!(seen.insert(said), "{locale:?}: {error:?} reuses speech");
            }
        }
        let m = Messages::new(Locale::EnUs);
        assert!(speech(&for_error(&m, &BrokerError::NoActiveDevice)).contains("Open Spotify"));
        assert!(speech(&for_error(&m, &BrokerError::PremiumRequired)).contains("Premium"));
        assert!(
            speech(&for_error(
                &m,
                &BrokerError::RateLimited {
                    retry_after_s: Some(30)
                }
            ))
            .contains("30 seconds")
        );
        assert!(
            speech(&for_error(
                &m,
                &BrokerError::QuotaExceeded {
                    retry_after_s: Some(600)
                }
            ))
            .contains("about 10 minutes")
        );
        assert!(
            speech(&for_error(&m, &BrokerError::Forbidden))
                .contains("pausing what is already paused")
        );
        let de = Messages::new(Locale::DeDe);
        assert!(
            speech(&for_error(
                &de,
                &BrokerError::RateLimited {
                    retry_after_s: Some(30)
                }
            ))
            .contains("30 Sekunden")
        );
    }
}
