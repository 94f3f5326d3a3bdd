//! Spotify's stable identifier of a user account, the key a link is stored under.

use std::fmt;

use super::InvalidValue;

/// Spotify's `account_id` (or, where Spotify sends none, the user `id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpotifyUserId(String);

impl SpotifyUserId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = !raw.is_empty() && raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue(
                "spotify user id must be 1-128 printable ascii characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpotifyUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
