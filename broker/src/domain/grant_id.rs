//! The identity of one authorization grant: a code and every broker token issued from it (a token family).

use std::fmt;

use super::{InvalidValue, TokenHash};

/// A grant is named by the hash of the code that started it: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrantId(String);

impl GrantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidValue("grant_id must be 64 lowercase hex digits"))
        }
    }

    /// The grant started by the code with this hash.
    pub fn of_code(code_hash: &TokenHash) -> Self {
        Self(code_hash.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthorizationCode;

    #[test]
    fn a_code_hash_is_a_grant_id_and_junk_is_not() {
        let grant = GrantId::of_code(&AuthorizationCode::generate().hash());
        assert_eq!(GrantId::parse(grant.as_str()), Ok(grant));
        for junk in ["", "g", &"A".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert!(GrantId::parse(junk).is_err(), "{junk}");
        }
    }
}
