//! Alexa response envelopes, and the [`Answer`] the conversation builds, rendered within Alexa's size limits.

use serde::{Deserialize, Serialize};

use super::ssml::{self, Limit, MAX_SPEECH_CHARS, Ssml};

/// Alexa refuses responses larger than 24 KB; stay a little under.
pub const MAX_RESPONSE_BYTES: usize = 24_000;

const SPEECH_LIMIT: Limit = Limit {
    max_chars: MAX_SPEECH_CHARS,
    max_json_bytes: 9_000,
};
const REPROMPT_LIMIT: Limit = Limit {
    max_chars: MAX_SPEECH_CHARS,
    max_json_bytes: 2_000,
};
const CARD_TITLE_LIMIT: Limit = Limit {
    max_chars: 200,
    max_json_bytes: 400,
};
/// The content's own limit; title and content together stay within [`MAX_SPEECH_CHARS`] too.
const CARD_CONTENT_LIMIT: Limit = Limit {
    max_chars: MAX_SPEECH_CHARS,
    max_json_bytes: 9_000,
};
const MAX_SESSION_ATTRIBUTES_BYTES: usize = 3_000;
/// Directives (dynamic entities above all) may take this much of the response.
const MAX_DIRECTIVES_BYTES: usize = 9_000;

/// The JSON body the skill answers Alexa with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseEnvelope {
    /// Always `"1.0"`.
    pub version: String,
    /// Attributes Alexa echoes back on the next request of the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// The answer.
    pub response: ResponseBody,
}

/// `response`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBody {
    /// What Alexa says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_speech: Option<OutputSpeech>,
    /// The card shown in the Alexa app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
    /// What Alexa says if the user does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprompt: Option<Reprompt>,
    /// Whether the session ends; absent leaves it to Alexa.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_end_session: Option<bool>,
    /// Dialog directives (`Dialog.ElicitSlot`, `Dialog.UpdateDynamicEntities`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub directives: Vec<serde_json::Value>,
}

/// `outputSpeech`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum OutputSpeech {
    /// Plain text.
    PlainText {
        /// The text.
        text: String,
    },
    /// SSML markup inside `<speak>`.
    #[serde(rename = "SSML")]
    Ssml {
        /// The markup.
        ssml: String,
    },
}

/// `card`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type")]
pub enum Card {
    /// A title and plain text.
    Simple {
        /// The title.
        title: String,
        /// The text.
        content: String,
    },
    /// The card that starts account linking in the Alexa app.
    LinkAccount,
}

/// `reprompt`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Reprompt {
    /// The reprompt speech.
    pub output_speech: OutputSpeech,
}

/// A card as the conversation asks for it, before limits apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRequest {
    /// Title and text.
    Simple {
        /// The title.
        title: String,
        /// The text.
        content: String,
    },
    /// The account-linking card.
    LinkAccount,
}

/// Whether the skill keeps listening after it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The answer is complete; the session ends.
    End,
    /// The skill asked a question and waits for the answer.
    KeepOpen,
    /// Say nothing about the session (for requests that take no speech).
    Unspecified,
}

/// What the conversation wants to say, as SSML whose outside values are already escaped; rendering
/// limits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Speech.
    pub speech: Option<Ssml>,
    /// Reprompt.
    pub reprompt: Option<Ssml>,
    /// Card.
    pub card: Option<CardRequest>,
    /// Session handling.
    pub session: Session,
    /// Session attributes for the next turn.
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// Dialog directives, in order.
    pub directives: Vec<serde_json::Value>,
}

impl Answer {
    /// Says `speech` and ends the session.
    pub fn tell(speech: Ssml) -> Self {
        Self {
            speech: Some(speech),
            reprompt: None,
            card: None,
            session: Session::End,
            attributes: None,
            directives: Vec::new(),
        }
    }

    /// Asks `speech`, repeating `reprompt` if the user stays silent.
    pub fn ask(speech: Ssml, reprompt: Ssml) -> Self {
        Self {
            speech: Some(speech),
            reprompt: Some(reprompt),
            card: None,
            session: Session::KeepOpen,
            attributes: None,
            directives: Vec::new(),
        }
    }

    /// Ends the session without a word.
    pub fn end_quietly() -> Self {
        Self {
            speech: None,
            reprompt: None,
            card: None,
            session: Session::End,
            attributes: None,
            directives: Vec::new(),
        }
    }

    /// An empty acknowledgement (session ended, skill events, exceptions).
    pub fn acknowledge() -> Self {
        Self {
            speech: None,
            reprompt: None,
            card: None,
            session: Session::Unspecified,
            attributes: None,
            directives: Vec::new(),
        }
    }

    /// Adds a simple card.
    pub fn with_card(mut self, title: impl Into<String>, content: impl Into<String>) -> Self {
        self.card = Some(CardRequest::Simple {
            title: title.into(),
            content: content.into(),
        });
        self
    }

    /// Adds the account-linking card (replacing any other card).
    pub fn with_link_account_card(mut self) -> Self {
        self.card = Some(CardRequest::LinkAccount);
        self
    }

    /// Appends a sentence to the speech.
    pub fn and_say(mut self, more: &Ssml) -> Self {
        self.speech = Some(self.speech.take().unwrap_or_default().then(more));
        self
    }

    /// Says `first` before the speech.
    pub fn say_first(mut self, first: &Ssml) -> Self {
        self.speech = Some(first.clone().then(&self.speech.take().unwrap_or_default()));
        self
    }

    /// Adds a directive (the session stays open when it is a dialog directive that asks).
    pub fn with_directive(mut self, directive: serde_json::Value) -> Self {
        self.directives.push(directive);
        self
    }

    /// Stores session attributes for the next turn.
    pub fn with_attributes(
        mut self,
        attributes: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.attributes = Some(attributes);
        self
    }

    /// Whether the answer carries a LinkAccount card.
    pub fn asks_to_link(&self) -> bool {
        matches!(self.card, Some(CardRequest::LinkAccount))
    }

    /// Renders the answer as SSML within Alexa's limits (8,000 characters of speech or card text,
    /// 24 KB in all).
    pub fn render(self) -> ResponseEnvelope {
        let attributes = self.attributes.filter(|a| {
            serde_json::to_vec(a)
                .map(|v| v.len() <= MAX_SESSION_ATTRIBUTES_BYTES)
                .unwrap_or(false)
        });
        let envelope = ResponseEnvelope {
            version: "1.0".into(),
            session_attributes: attributes,
            response: ResponseBody {
                output_speech: self.speech.map(|s| OutputSpeech::Ssml {
                    ssml: ssml::wrap_ssml(&s, SPEECH_LIMIT),
                }),
                card: self.card.map(|card| match card {
                    CardRequest::Simple { title, content } => {
                        let title = ssml::to_plain(&title, CARD_TITLE_LIMIT);
                        let content_limit = Limit {
                            max_chars: CARD_CONTENT_LIMIT
                                .max_chars
                                .min(MAX_SPEECH_CHARS.saturating_sub(title.chars().count())),
                            ..CARD_CONTENT_LIMIT
                        };
                        Card::Simple {
                            content: ssml::to_plain(&content, content_limit),
                            title,
                        }
                    }
                    CardRequest::LinkAccount => Card::LinkAccount,
                }),
                reprompt: self.reprompt.map(|r| Reprompt {
                    output_speech: OutputSpeech::Ssml {
                        ssml: ssml::wrap_ssml(&r, REPROMPT_LIMIT),
                    },
                }),
                should_end_session: match self.session {
                    Session::End => Some(true),
                    Session::KeepOpen => Some(false),
                    Session::Unspecified => None,
                },
                directives: within_budget(self.directives),
            },
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) if bytes.len() <= MAX_RESPONSE_BYTES => envelope,
            _ => {
                // The per-part limits make this unreachable; answer something valid regardless.
                tracing::error!("response over the size limit, answering a short apology");
                Answer::tell(Ssml::text("Sorry, that answer was too long for me to say."))
                    .render_unchecked()
            }
        }
    }

    fn render_unchecked(self) -> ResponseEnvelope {
        ResponseEnvelope {
            version: "1.0".into(),
            session_attributes: None,
            response: ResponseBody {
                output_speech: self.speech.map(|s| OutputSpeech::Ssml {
                    ssml: ssml::wrap_ssml(&s, SPEECH_LIMIT),
                }),
                card: None,
                reprompt: None,
                should_end_session: Some(true),
                directives: Vec::new(),
            },
        }
    }
}

/// The directives that fit [`MAX_DIRECTIVES_BYTES`], in order; one that does not fit is dropped.
fn within_budget(directives: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut used = 0usize;
    directives
        .into_iter()
        .filter(|d| {
            let size = serde_json::to_vec(d).map(|v| v.len()).unwrap_or(usize::MAX);
            if used.saturating_add(size) > MAX_DIRECTIVES_BYTES {
                tracing::warn!(size, "dropping a directive over the response budget");
                return false;
            }
            used += size;
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_account_answer_matches_the_shared_example() {
        let rendered = Answer::tell(Ssml::text(
            "To use this skill, link your Spotify account. I sent a card to the Alexa app.",
        ))
        .with_link_account_card()
        .render();
        let path = format!(
            "{}/tests/fixtures/alexa/response-link-account.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&rendered).unwrap(), expected);
    }

    #[test]
    fn ask_keeps_the_session_open_with_a_reprompt() {
        let json = serde_json::to_value(
            Answer::ask(Ssml::text("Which one?"), Ssml::text("Which playlist?")).render(),
        )
        .unwrap();
        assert_eq!(json["response"]["shouldEndSession"], false);
        assert_eq!(
            json["response"]["reprompt"]["outputSpeech"]["ssml"],
            "<speak>Which playlist?</speak>"
        );
    }

    #[test]
    fn acknowledgement_is_an_empty_response() {
        let json = serde_json::to_value(Answer::acknowledge().render()).unwrap();
        assert_eq!(json, serde_json::json!({"version": "1.0", "response": {}}));
    }

    #[test]
    fn a_cards_title_and_content_share_the_8000_characters() {
        let envelope = Answer::tell(Ssml::text("Here."))
            .with_card("t".repeat(150), "c".repeat(7_990))
            .render();
        let Some(Card::Simple { title, content }) = &envelope.response.card else {
            panic!("no card")
        };
        assert_eq!(title.chars().count(), 150);
        assert_eq!(
            title.chars().count() + content.chars().count(),
            MAX_SPEECH_CHARS
        );
        assert!(content.ends_with('…'));
        // A short card is untouched.
        let small = Answer::tell(Ssml::text("Here."))
            .with_card("Title", "Body")
            .render();
        assert_eq!(
            small.response.card,
            Some(Card::Simple {
                title: "Title".into(),
                content: "Body".into()
            })
        );
    }

    #[test]
    fn huge_answers_stay_within_every_limit() {
        for unit in ["&", "🎵", "\"", "a", "\\"] {
            let huge = unit.repeat(50_000);
            let envelope = Answer::ask(Ssml::text(&huge), Ssml::text(&huge))
                .with_card(huge.clone(), huge.clone())
                .render();
            let bytes = serde_json::to_vec(&envelope).unwrap();
            assert!(bytes.len() <= MAX_RESPONSE_BYTES, "{unit}: {}", bytes.len());
            let Some(OutputSpeech::Ssml { ssml }) = &envelope.response.output_speech else {
                panic!("no speech")
            };
            assert!(ssml.chars().count() <= MAX_SPEECH_CHARS);
            let Some(Card::Simple { title, content }) = &envelope.response.card else {
                panic!("no card")
            };
            assert!(
                title.chars().count() + content.chars().count() <= MAX_SPEECH_CHARS,
                "{unit}: title and content together over the limit"
            );
        }
    }

    #[test]
    fn catalogue_markup_is_kept_and_cut_only_between_whole_tags() {
        let markup = Ssml::trusted(format!(
            "Hello<break time=\"300ms\"/>{}",
            Ssml::text("Rock & <Roll>")
        ));
        let json = serde_json::to_value(Answer::tell(markup.clone()).render()).unwrap();
        assert_eq!(
            json["response"]["outputSpeech"]["ssml"],
            "<speak>Hello<break time=\"300ms\"/>Rock &amp; &lt;Roll&gt;</speak>"
        );
        for max_chars in 18..40 {
            let cut = ssml::wrap_ssml(
                &markup,
                Limit {
                    max_chars,
                    max_json_bytes: 10_000,
                },
            );
            assert!(cut.chars().count() <= max_chars, "{cut}");
            let inner = &cut["<speak>".len()..cut.len() - "</speak>".len()];
            assert_eq!(
                inner.matches('<').count(),
                inner.matches('>').count(),
                "{cut}"
            );
            assert!(!inner.contains("&a…") && !inner.contains("&l…"), "{cut}");
        }
    }

    #[test]
    fn directives_are_rendered_within_their_budget() {
        let big =
            serde_json::json!({"type": "Dialog.UpdateDynamicEntities", "pad": "x".repeat(20_000)});
        let small = serde_json::json!({"type": "Dialog.ElicitSlot", "slotToElicit": "playlist"});
        let json = serde_json::to_value(
            Answer::ask(Ssml::text("Which?"), Ssml::text("Which?"))
                .with_directive(big)
                .with_directive(small.clone())
                .render(),
        )
        .unwrap();
        assert_eq!(json["response"]["directives"], serde_json::json!([small]));
    }
}
