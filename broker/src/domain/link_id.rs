//! The broker's identifier of one linked Spotify account.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::InvalidValue;

/// A link's id: a random UUID, rendered hyphenated and lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(Uuid);

impl LinkId {
    /// A fresh random id for a new link.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Parses the hyphenated form, as it appears in URLs and the store.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() != 36 {
            return Err(InvalidValue("link id must be a hyphenated uuid"));
        }
        Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| InvalidValue("link id must be a hyphenated uuid"))
    }
}

impl FromStr for LinkId {
    type Err = InvalidValue;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl serde::Serialize for LinkId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = LinkId::generate();
        assert_eq!(LinkId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn refuses_other_forms() {
        for raw in [
            "",
            "abc",
            "00000000000000000000000000000000",
            "../../etc/passwd",
        ] {
            assert!(LinkId::parse(raw).is_err(), "{raw}");
        }
    }
}
