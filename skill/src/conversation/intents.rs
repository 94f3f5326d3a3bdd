//! The intents the skill understands, by their names in the interaction model.

use crate::alexa::request;

/// The custom slot that carries a playlist name.
pub const PLAYLIST_SLOT: &str = "playlist";

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// "what's playing".
    WhatsPlaying,
    /// "list my playlists".
    ListPlaylists,
    /// "play my playlist {playlist}": the spoken name and any entity-resolution values.
    PlayPlaylist {
        /// What the user said, if anything.
        spoken: Option<String>,
        /// Values entity resolution matched.
        resolved: Vec<String>,
    },
    /// Pause playback.
    Pause,
    /// Resume playback.
    Resume,
    /// Next track.
    Next,
    /// Previous track.
    Previous,
    /// "which Spotify account is this".
    WhichAccount,
    /// AMAZON.HelpIntent.
    Help,
    /// AMAZON.StopIntent or AMAZON.CancelIntent.
    Stop,
    /// AMAZON.FallbackIntent.
    Fallback,
    /// AMAZON.NavigateHomeIntent.
    NavigateHome,
    /// An intent name the skill does not know.
    Unknown(String),
}

/// Every intent name the skill handles; the interaction model must declare exactly these.
pub const HANDLED_INTENTS: &[&str] = &[
    "WhatsPlayingIntent",
    "ListPlaylistsIntent",
    "PlayPlaylistIntent",
    "PauseMusicIntent",
    "ResumeMusicIntent",
    "NextTrackIntent",
    "PreviousTrackIntent",
    "WhichAccountIntent",
    "AMAZON.PauseIntent",
    "AMAZON.ResumeIntent",
    "AMAZON.NextIntent",
    "AMAZON.PreviousIntent",
    "AMAZON.HelpIntent",
    "AMAZON.StopIntent",
    "AMAZON.CancelIntent",
    "AMAZON.FallbackIntent",
    "AMAZON.NavigateHomeIntent",
];

impl Intent {
    /// Reads the intent Alexa recognized.
    pub fn from_request(intent: &request::Intent) -> Self {
        match intent.name.as_str() {
            "WhatsPlayingIntent" => Self::WhatsPlaying,
            "ListPlaylistsIntent" => Self::ListPlaylists,
            "PlayPlaylistIntent" => Self::PlayPlaylist {
                spoken: intent.slot_value(PLAYLIST_SLOT).map(str::to_owned),
                resolved: intent
                    .resolved_values(PLAYLIST_SLOT)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
            "PauseMusicIntent" | "AMAZON.PauseIntent" => Self::Pause,
            "ResumeMusicIntent" | "AMAZON.ResumeIntent" => Self::Resume,
            "NextTrackIntent" | "AMAZON.NextIntent" => Self::Next,
            "PreviousTrackIntent" | "AMAZON.PreviousIntent" => Self::Previous,
            "WhichAccountIntent" => Self::WhichAccount,
            "AMAZON.HelpIntent" => Self::Help,
            "AMAZON.StopIntent" | "AMAZON.CancelIntent" => Self::Stop,
            "AMAZON.FallbackIntent" => Self::Fallback,
            "AMAZON.NavigateHomeIntent" => Self::NavigateHome,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether answering needs the user's linked account.
    pub fn needs_link(&self) -> bool {
        !matches!(
            self,
            Self::Help | Self::Stop | Self::Fallback | Self::NavigateHome | Self::Unknown(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn manifest_dir() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn read_json(relative: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(manifest_dir().join(relative)).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    fn named(name: &str) -> request::Intent {
        request::Intent {
            name: name.into(),
            slots: Default::default(),
        }
    }

    #[test]
    fn every_handled_intent_is_recognized() {
        for name in HANDLED_INTENTS {
            assert!(
                !matches!(Intent::from_request(&named(name)), Intent::Unknown(_)),
                "{name}"
            );
        }
        assert_eq!(
            Intent::from_request(&named("SomethingElse")),
            Intent::Unknown("SomethingElse".into())
        );
    }

    #[test]
    fn interaction_model_declares_exactly_the_handled_intents() {
        let model = read_json("skill-package/interactionModels/custom/en-US.json");
        let language = &model["interactionModel"]["languageModel"];
        let declared: BTreeSet<String> = language["intents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        let handled: BTreeSet<String> = HANDLED_INTENTS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(declared, handled);

        let slot_types: BTreeSet<String> = language["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        for intent in language["intents"].as_array().unwrap() {
            let name = intent["name"].as_str().unwrap();
            let samples = intent["samples"].as_array().cloned().unwrap_or_default();
            if !name.starts_with("AMAZON.") {
                assert!(samples.len() >= 3, "{name} needs sample utterances");
            }
            let slots = intent["slots"].as_array().cloned().unwrap_or_default();
            for slot in &slots {
                let slot_name = slot["name"].as_str().unwrap();
                let slot_type = slot["type"].as_str().unwrap();
                assert!(
                    slot_type.starts_with("AMAZON.") || slot_types.contains(slot_type),
                    "{name}.{slot_name}: unknown type {slot_type}"
                );
                assert!(
                    samples
                        .iter()
                        .any(|s| s.as_str().unwrap().contains(&format!("{{{slot_name}}}"))),
                    "{name}: no sample uses {{{slot_name}}}"
                );
            }
            for sample in &samples {
                let sample = sample.as_str().unwrap();
                for used in sample
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split('}').next())
                {
                    assert!(
                        slots.iter().any(|s| s["name"] == used),
                        "{name}: sample {sample:?} uses undeclared slot {used}"
                    );
                }
            }
        }
        let play = language["intents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "PlayPlaylistIntent")
            .unwrap();
        assert_eq!(play["slots"][0]["name"], PLAYLIST_SLOT);
    }

    #[test]
    fn skill_package_documents_parse() {
        let manifest = read_json("skill-package/skill.json");
        let apis = &manifest["manifest"]["apis"]["custom"];
        assert!(
            apis["endpoint"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("https://")
        );
        let events: BTreeSet<String> = manifest["manifest"]["events"]["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["eventName"].as_str().unwrap().to_owned())
            .collect();
        assert!(events.contains("SKILL_DISABLED"));
        assert!(events.contains("SKILL_ACCOUNT_LINKED"));

        let linking = read_json("account-linking.json");
        let request = &linking["accountLinkingRequest"];
        assert_eq!(request["type"], "AUTH_CODE");
        assert!(
            request["authorizationUrl"]
                .as_str()
                .unwrap()
                .ends_with("/oauth/authorize")
        );
        assert!(
            request["accessTokenUrl"]
                .as_str()
                .unwrap()
                .ends_with("/oauth/token")
        );
    }
}
