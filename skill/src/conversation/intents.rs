//! The intents the skill understands, by their names in the interaction model.

use crate::alexa::request;

/// The custom slot that carries a playlist name.
pub const PLAYLIST_SLOT: &str = "playlist";
/// The `AMAZON.SearchQuery` slot of the play-by-name and queue intents.
pub const QUERY_SLOT: &str = "query";
/// The custom slot that carries a device name.
pub const DEVICE_SLOT: &str = "device";
/// The `AMAZON.NUMBER` slot of the volume intent.
pub const LEVEL_SLOT: &str = "level";
/// The `AMAZON.Ordinal` slot of the choosing intent ("the second one").
pub const ORDINAL_SLOT: &str = "ordinal";
/// The `AMAZON.NUMBER` slot of the choosing intent ("number two").
pub const NUMBER_SLOT: &str = "number";

/// What to look for when playing by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    /// Anything: artist, album, song or playlist.
    Any,
    /// A song.
    Song,
    /// An album.
    Album,
    /// An artist.
    Artist,
    /// A podcast.
    Podcast,
    /// A podcast episode.
    Episode,
}

impl SearchKind {
    /// The intent that asks for this kind (used to elicit its slot again).
    pub fn intent_name(self) -> &'static str {
        match self {
            Self::Any => "PlayMusicIntent",
            Self::Song => "PlaySongIntent",
            Self::Album => "PlayAlbumIntent",
            Self::Artist => "PlayArtistIntent",
            Self::Podcast => "PlayPodcastIntent",
            Self::Episode => "PlayEpisodeIntent",
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// "what's playing".
    WhatsPlaying,
    /// "who sings this".
    WhoSings,
    /// "what album is this".
    WhatAlbum,
    /// "list my playlists".
    ListPlaylists,
    /// "play my playlist {playlist}": the spoken name and any entity-resolution values.
    PlayPlaylist {
        /// What the user said, if anything.
        spoken: Option<String>,
        /// Values entity resolution matched.
        resolved: Vec<String>,
    },
    /// "play {query}", "play the album {query}"…
    Play {
        /// What the user said, if anything.
        query: Option<String>,
        /// What to look for.
        kind: SearchKind,
    },
    /// "which devices do I have".
    ListDevices,
    /// "play on the {device}".
    PlayOnDevice {
        /// The spoken device name.
        device: Option<String>,
    },
    /// "turn it up".
    VolumeUp,
    /// "turn it down".
    VolumeDown,
    /// "set the volume to {level}".
    SetVolume {
        /// The spoken level.
        level: Option<String>,
    },
    /// Shuffle on.
    ShuffleOn,
    /// Shuffle off.
    ShuffleOff,
    /// Repeat the playlist or album.
    RepeatOn,
    /// Repeat the song.
    RepeatTrack,
    /// Repeat off.
    RepeatOff,
    /// "add this to the queue".
    QueueCurrent,
    /// "add {query} to the queue".
    QueueSong {
        /// What the user said, if anything.
        query: Option<String>,
    },
    /// "the second one": a choice among the candidates offered.
    Choose {
        /// The 1-based position, when one was understood.
        position: Option<usize>,
    },
    /// AMAZON.YesIntent.
    Yes,
    /// AMAZON.NoIntent.
    No,
    /// "why isn't Spotify working".
    Troubleshoot,
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

/// Every intent name the skill handles; every locale's interaction model must declare exactly these.
pub const HANDLED_INTENTS: &[&str] = &[
    "WhatsPlayingIntent",
    "WhoSingsIntent",
    "WhatAlbumIntent",
    "ListPlaylistsIntent",
    "PlayPlaylistIntent",
    "PlayMusicIntent",
    "PlaySongIntent",
    "PlayAlbumIntent",
    "PlayArtistIntent",
    "PlayPodcastIntent",
    "PlayEpisodeIntent",
    "ListDevicesIntent",
    "PlayOnDeviceIntent",
    "VolumeUpIntent",
    "VolumeDownIntent",
    "SetVolumeIntent",
    "ShuffleOnIntent",
    "ShuffleOffIntent",
    "RepeatOnIntent",
    "RepeatTrackIntent",
    "RepeatOffIntent",
    "AddToQueueIntent",
    "QueueSongIntent",
    "ChooseIntent",
    "TroubleshootIntent",
    "PauseMusicIntent",
    "ResumeMusicIntent",
    "NextTrackIntent",
    "PreviousTrackIntent",
    "WhichAccountIntent",
    "AMAZON.YesIntent",
    "AMAZON.NoIntent",
    "AMAZON.ShuffleOnIntent",
    "AMAZON.ShuffleOffIntent",
    "AMAZON.LoopOnIntent",
    "AMAZON.LoopOffIntent",
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

/// The position in "the second one" / "number 2" ("2", "2nd" and "two" forms Alexa may give).
fn position(intent: &request::Intent) -> Option<usize> {
    let words = [
        ("first", 1),
        ("second", 2),
        ("third", 3),
        ("one", 1),
        ("two", 2),
        ("three", 3),
        ("erste", 1),
        ("zweite", 2),
        ("dritte", 3),
        ("eins", 1),
        ("zwei", 2),
        ("drei", 3),
    ];
    [ORDINAL_SLOT, NUMBER_SLOT]
        .iter()
        .filter_map(|slot| intent.slot_value(slot))
        .find_map(|value| {
            let digits: String = value.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok().or_else(|| {
                let lower = value.to_lowercase();
                words
                    .iter()
                    .find(|(w, _)| lower.starts_with(w))
                    .map(|(_, n)| *n)
            })
        })
        .filter(|n| *n > 0)
}

impl Intent {
    /// Reads the intent Alexa recognized.
    pub fn from_request(intent: &request::Intent) -> Self {
        let slot = |name: &str| intent.slot_value(name).map(str::to_owned);
        let play = |kind| Self::Play {
            query: slot(QUERY_SLOT),
            kind,
        };
        match intent.name.as_str() {
            "WhatsPlayingIntent" => Self::WhatsPlaying,
            "WhoSingsIntent" => Self::WhoSings,
            "WhatAlbumIntent" => Self::WhatAlbum,
            "ListPlaylistsIntent" => Self::ListPlaylists,
            "PlayPlaylistIntent" => Self::PlayPlaylist {
                spoken: slot(PLAYLIST_SLOT),
                resolved: intent
                    .resolved_values(PLAYLIST_SLOT)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
            "PlayMusicIntent" => play(SearchKind::Any),
            "PlaySongIntent" => play(SearchKind::Song),
            "PlayAlbumIntent" => play(SearchKind::Album),
            "PlayArtistIntent" => play(SearchKind::Artist),
            "PlayPodcastIntent" => play(SearchKind::Podcast),
            "PlayEpisodeIntent" => play(SearchKind::Episode),
            "ListDevicesIntent" => Self::ListDevices,
            "PlayOnDeviceIntent" => Self::PlayOnDevice {
                device: slot(DEVICE_SLOT),
            },
            "VolumeUpIntent" => Self::VolumeUp,
            "VolumeDownIntent" => Self::VolumeDown,
            "SetVolumeIntent" => Self::SetVolume {
                level: slot(LEVEL_SLOT),
            },
            "ShuffleOnIntent" | "AMAZON.ShuffleOnIntent" => Self::ShuffleOn,
            "ShuffleOffIntent" | "AMAZON.ShuffleOffIntent" => Self::ShuffleOff,
            "RepeatOnIntent" | "AMAZON.LoopOnIntent" => Self::RepeatOn,
            "RepeatTrackIntent" => Self::RepeatTrack,
            "RepeatOffIntent" | "AMAZON.LoopOffIntent" => Self::RepeatOff,
            "AddToQueueIntent" => Self::QueueCurrent,
            "QueueSongIntent" => Self::QueueSong {
                query: slot(QUERY_SLOT),
            },
            "ChooseIntent" => Self::Choose {
                position: position(intent),
            },
            "AMAZON.YesIntent" => Self::Yes,
            "AMAZON.NoIntent" => Self::No,
            "TroubleshootIntent" => Self::Troubleshoot,
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

    const LOCALES: [&str; 6] = ["en-US", "en-GB", "en-CA", "en-AU", "en-IN", "de-DE"];

    /// The slots the skill elicits with `Dialog.ElicitSlot` (each needs a dialog model entry).
    const ELICITED: &[(&str, &str)] = &[
        ("PlayPlaylistIntent", PLAYLIST_SLOT),
        ("PlayMusicIntent", QUERY_SLOT),
        ("PlaySongIntent", QUERY_SLOT),
        ("PlayAlbumIntent", QUERY_SLOT),
        ("PlayArtistIntent", QUERY_SLOT),
        ("PlayPodcastIntent", QUERY_SLOT),
        ("PlayEpisodeIntent", QUERY_SLOT),
        ("QueueSongIntent", QUERY_SLOT),
        ("PlayOnDeviceIntent", DEVICE_SLOT),
        ("SetVolumeIntent", LEVEL_SLOT),
    ];

    fn slot_names(sample: &str) -> Vec<&str> {
        sample
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect()
    }

    /// Amazon's rules for one locale's model, as far as they can be checked without Amazon.
    fn check_model(locale: &str) -> serde_json::Value {
        let model = read_json(&format!(
            "skill-package/interactionModels/custom/{locale}.json"
        ));
        check(locale, &model);
        model
    }

    fn check(locale: &str, model: &serde_json::Value) {
        let language = &model["interactionModel"]["languageModel"];
        let invocation = language["invocationName"].as_str().unwrap();
        assert_eq!(
            invocation,
            invocation.to_lowercase(),
            "{locale}: invocation name"
        );
        assert!(
            invocation.split_whitespace().count() >= 2
                && invocation
                    .chars()
                    .all(|c| c.is_alphabetic() || c == ' ' || c == '\'' || c == '.'),
            "{locale}: invocation name {invocation:?}"
        );
        let intents = language["intents"].as_array().unwrap();
        let declared: BTreeSet<String> = intents
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect();
        let handled: BTreeSet<String> = HANDLED_INTENTS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(declared, handled, "{locale}: intents");
        assert_eq!(declared.len(), intents.len(), "{locale}: an intent twice");

        let slot_types: BTreeSet<String> = language["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                assert!(!t["values"].as_array().unwrap().is_empty());
                t["name"].as_str().unwrap().to_owned()
            })
            .collect();
        let mut all_samples = BTreeSet::new();
        for intent in intents {
            let name = intent["name"].as_str().unwrap();
            let samples: Vec<&str> = intent["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            if !name.starts_with("AMAZON.") {
                assert!(
                    samples.len() >= 3,
                    "{locale}: {name} needs sample utterances"
                );
            }
            let slots = intent["slots"].as_array().cloned().unwrap_or_default();
            let slot_type = |slot: &str| {
                slots
                    .iter()
                    .find(|s| s["name"] == slot)
                    .and_then(|s| s["type"].as_str())
            };
            for slot in &slots {
                let slot_name = slot["name"].as_str().unwrap();
                let kind = slot["type"].as_str().unwrap();
                assert!(
                    kind.starts_with("AMAZON.") || slot_types.contains(kind),
                    "{locale}: {name}.{slot_name}: unknown type {kind}"
                );
                assert!(
                    samples
                        .iter()
                        .any(|s| s.contains(&format!("{{{slot_name}}}"))),
                    "{locale}: {name}: no sample uses {{{slot_name}}}"
                );
                for sample in slot["samples"].as_array().cloned().unwrap_or_default() {
                    let sample = sample.as_str().unwrap();
                    assert_eq!(slot_names(sample), vec![slot_name], "{locale}: {sample}");
                    if kind == "AMAZON.SearchQuery" {
                        assert_ne!(
                            sample.trim(),
                            format!("{{{slot_name}}}"),
                            "{locale}: {name}: a search query needs a carrier phrase"
                        );
                    }
                }
            }
            for sample in &samples {
                let normalized = sample
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase();
                assert!(
                    all_samples.insert(normalized),
                    "{locale}: sample {sample:?} used twice"
                );
                assert!(
                    sample
                        .chars()
                        .all(|c| c.is_alphanumeric() || " '.-{}".contains(c)),
                    "{locale}: {name}: punctuation in {sample:?}"
                );
                let used = slot_names(sample);
                for slot in &used {
                    assert!(
                        slot_type(slot).is_some(),
                        "{locale}: {name}: sample {sample:?} uses undeclared slot {slot}"
                    );
                }
                if used
                    .iter()
                    .any(|s| slot_type(s) == Some("AMAZON.SearchQuery"))
                {
                    assert_eq!(
                        used.len(),
                        1,
                        "{locale}: {sample:?}: a search query stands alone"
                    );
                    assert_ne!(
                        sample.trim(),
                        "{query}",
                        "{locale}: a search query needs a carrier phrase"
                    );
                }
            }
        }
        let dialog = model["interactionModel"]["dialog"]["intents"]
            .as_array()
            .unwrap();
        for entry in dialog {
            let name = entry["name"].as_str().unwrap();
            let intent = intents.iter().find(|i| i["name"] == name).unwrap();
            for slot in entry["slots"].as_array().unwrap() {
                let declared = intent["slots"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["name"] == slot["name"])
                    .unwrap_or_else(|| panic!("{locale}: dialog slot {slot} of {name}"));
                assert_eq!(declared["type"], slot["type"]);
            }
        }
        for (intent, slot) in ELICITED {
            assert!(
                dialog.iter().any(|d| d["name"] == *intent
                    && d["slots"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|s| s["name"] == *slot)),
                "{locale}: {intent}.{slot} is elicited but has no dialog model"
            );
        }
    }

    #[test]
    fn every_locales_interaction_model_follows_amazons_rules() {
        let models: Vec<serde_json::Value> = LOCALES.iter().map(|l| check_model(l)).collect();
        // The English locales share their samples; German has its own.
        for english in &models[1..5] {
            assert_eq!(english, &models[0]);
        }
        assert_ne!(
            models[5]["interactionModel"]["languageModel"]["intents"][0]["samples"],
            models[0]["interactionModel"]["languageModel"]["intents"][0]["samples"]
        );
        let manifest = read_json("skill-package/skill.json");
        for locale in LOCALES {
            assert!(
                manifest["manifest"]["publishingInformation"]["locales"][locale].is_object(),
                "{locale} missing from skill.json"
            );
        }
    }

    #[test]
    fn broken_models_are_caught() {
        let good = read_json("skill-package/interactionModels/custom/en-US.json");
        check("en-US", &good);
        let breakages: [fn(&mut serde_json::Value); 4] = [
            |m| {
                let first =
                    m["interactionModel"]["languageModel"]["intents"][0]["samples"][0].clone();
                m["interactionModel"]["languageModel"]["intents"][1]["samples"]
                    .as_array_mut()
                    .unwrap()
                    .push(first);
            },
            |m| m["interactionModel"]["languageModel"]["invocationName"] = "Music Link".into(),
            |m| {
                m["interactionModel"]["languageModel"]["types"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|t| t["name"] != "DEVICE_NAME")
            },
            |m| {
                m["interactionModel"]["languageModel"]["intents"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|i| i["name"] != "TroubleshootIntent")
            },
        ];
        for breakage in breakages {
            let mut broken = good.clone();
            breakage(&mut broken);
            let result = std::panic::catch_unwind(|| check("en-US", &broken));
            assert!(result.is_err());
        }
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

        let manifest = &manifest["manifest"];
        assert_eq!(
            manifest["privacyAndCompliance"]["usesPersonalInfo"], true,
            "the skill reads the linked Spotify account's name and listening"
        );
        let instructions = manifest["publishingInformation"]["testingInstructions"]
            .as_str()
            .unwrap();
        assert!(instructions.contains("test account") && instructions.contains("allowlist"));
        for (locale, info) in manifest["publishingInformation"]["locales"]
            .as_object()
            .unwrap()
        {
            let privacy = &manifest["privacyAndCompliance"]["locales"][locale];
            assert!(
                privacy["privacyPolicyUrl"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://")
            );
            assert!(
                privacy["termsOfUseUrl"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://")
            );
            for (key, size) in [("smallIconUri", 108u32), ("largeIconUri", 512)] {
                let uri = info[key].as_str().unwrap();
                let file = uri.strip_prefix("file://").unwrap();
                let png = std::fs::read(manifest_dir().join("skill-package").join(file)).unwrap();
                assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{file}");
                let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
                let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
                assert_eq!((width, height), (size, size), "{locale} {key}");
            }
        }

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
