//! Alexa's id of the person using the skill, which the broker keeps only as a hash bound to their link.

use std::fmt;

use super::{InvalidValue, TokenHash};

/// `context.System.user.userId` (`amzn1.ask.account.…`), as the skill forwards it in `X-Alexa-User-Id`.
#[derive(Clone, PartialEq, Eq)]
pub struct AlexaUserId(String);

/// Longest user id accepted; Alexa's are a few hundred characters.
const MAX_LEN: usize = 512;

impl AlexaUserId {
    /// Printable ASCII without spaces, at most 512 characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(InvalidValue("alexa user id must be 1 to 512 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidValue("alexa user id must be printable ascii"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The form the store keeps: the user id itself is personal data and never stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for AlexaUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlexaUserId([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alexa_ids_and_refuses_junk() {
        let id = AlexaUserId::parse("amzn1.ask.account.AGX7").unwrap();
        assert_eq!(id.hash(), TokenHash::of("amzn1.ask.account.AGX7"));
        assert!(!format!("{id:?}").contains("amzn1"));
        for bad in ["", " ", "a b", "é", &"x".repeat(513)] {
            assert!(AlexaUserId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
