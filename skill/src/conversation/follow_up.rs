//! Follow-ups: what the skill asked (kept in session attributes for the next turn), the dialog
//! directives that tell Alexa which slot the answer fills, and the user's playlist names as dynamic
//! entities so that Alexa recognises names outside the model's static values.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::alexa::response::Answer;
use crate::broker::spotify::{PlayTarget, Playlist};
use crate::conversation::playlist_match::normalize;

/// The session attribute that holds the open question.
pub const PENDING_KEY: &str = "pending";
/// Amazon accepts at most 100 dynamic entities in one update.
const MAX_ENTITIES: usize = 100;
/// Longer names are not useful to recognise and would eat the response's size.
const MAX_ENTITY_CHARS: usize = 80;
/// Names kept per candidate in session attributes.
const MAX_CHOICE_CHARS: usize = 120;

/// One candidate offered to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What was said.
    pub name: String,
    /// What to play.
    pub uri: String,
}

impl Choice {
    /// A candidate `name` playing `uri` (the name cut to fit the session attributes).
    pub fn new(name: &str, uri: &str) -> Self {
        Self {
            name: name.chars().take(MAX_CHOICE_CHARS).collect(),
            uri: uri.to_owned(),
        }
    }
}

/// The question the skill asked on the previous turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pending {
    /// "Which one: A, or B?" among playlists.
    ChoosePlaylist {
        /// The candidates, in the order spoken.
        options: Vec<Choice>,
    },
    /// "Should I play on the kitchen speaker?"
    OfferDevice {
        /// Spotify's device id.
        device_id: String,
        /// Its name, as spoken.
        device: String,
        /// What to start there; `None` moves what was playing.
        play: Option<PlayTarget>,
    },
}

impl Pending {
    /// The open question in the request's session attributes, if any (anything unreadable is none).
    pub fn from_attributes(attributes: Option<&Map<String, Value>>) -> Option<Self> {
        let value = attributes?.get(PENDING_KEY)?;
        serde_json::from_value(value.clone()).ok()
    }

    /// Session attributes that carry this question to the next turn.
    pub fn to_attributes(&self) -> Map<String, Value> {
        let mut map = Map::new();
        if let Ok(value) = serde_json::to_value(self) {
            map.insert(PENDING_KEY.to_owned(), value);
        }
        map
    }
}

/// `Dialog.ElicitSlot` for `slot` of `intent` (the intent may differ from the request's: "list my
/// playlists" is followed by the name of one to play).
pub fn elicit_slot(intent: &str, slot: &str) -> Value {
    json!({
        "type": "Dialog.ElicitSlot",
        "slotToElicit": slot,
        "updatedIntent": {
            "name": intent,
            "confirmationStatus": "NONE",
            "slots": {slot: {"name": slot, "confirmationStatus": "NONE"}}
        }
    })
}

/// Asks for `slot` of `intent`: the question and its directive.
pub fn ask_for(answer: Answer, intent: &str, slot: &str) -> Answer {
    answer.with_directive(elicit_slot(intent, slot))
}

/// `Dialog.UpdateDynamicEntities` replacing `PLAYLIST_NAME` with the user's playlists (at most 100;
/// the normalized spoken form as a synonym when it differs).
pub fn playlist_entities(playlists: &[Playlist]) -> Option<Value> {
    let mut seen = std::collections::BTreeSet::new();
    let values: Vec<Value> = playlists
        .iter()
        .filter_map(|p| {
            let name: String = p.name.trim().chars().take(MAX_ENTITY_CHARS).collect();
            let spoken = normalize(&name);
            if name.is_empty() || spoken.is_empty() || !seen.insert(spoken.clone()) {
                return None;
            }
            let synonyms: Vec<String> = if spoken == name.to_lowercase() {
                Vec::new()
            } else {
                vec![spoken]
            };
            Some(json!({"id": p.uri, "name": {"value": name, "synonyms": synonyms}}))
        })
        .take(MAX_ENTITIES)
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(json!({
        "type": "Dialog.UpdateDynamicEntities",
        "updateBehavior": "REPLACE",
        "types": [{"name": "PLAYLIST_NAME", "values": values}]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_questions_survive_the_session_attributes() {
        let pending = Pending::OfferDevice {
            device_id: "d1".into(),
            device: "Kitchen".into(),
            play: Some(PlayTarget::Context {
                context_uri: "spotify:album:1".into(),
            }),
        };
        let attributes = pending.to_attributes();
        assert_eq!(
            attributes["pending"]["play"],
            json!({"context_uri": "spotify:album:1"})
        );
        assert_eq!(Pending::from_attributes(Some(&attributes)), Some(pending));
        let mut junk = Map::new();
        junk.insert("pending".into(), json!({"kind": "nonsense"}));
        assert_eq!(Pending::from_attributes(Some(&junk)), None);
        assert_eq!(Pending::from_attributes(None), None);
    }

    #[test]
    fn dynamic_entities_are_bounded_and_deduplicated() {
        let playlists: Vec<Playlist> = (0..150)
            .map(|i| Playlist {
                id: format!("p{i}"),
                name: if i == 1 {
                    "Mix 0".into()
                } else {
                    format!("Mix {i} & More")
                },
                uri: format!("spotify:playlist:p{i}"),
            })
            .collect();
        let directive = playlist_entities(&playlists).unwrap();
        let values = directive["types"][0]["values"].as_array().unwrap();
        assert_eq!(values.len(), 100);
        assert_eq!(values[0]["name"]["synonyms"], json!(["mix 0 and more"]));
        assert_eq!(directive["updateBehavior"], "REPLACE");
        assert_eq!(playlist_entities(&[]), None);
    }
}
