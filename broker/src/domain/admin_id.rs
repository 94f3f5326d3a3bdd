//! Which admin token an operator used, without the token: the first 8 hex digits of its SHA-256, so the
//! audit trail can tell operators apart and no log or row can be replayed as a credential.

use sha2::{Digest, Sha256};

/// An admin token's id: `1a2b3c4d` for the token whose SHA-256 starts with those digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AdminId([u8; 4]);

impl AdminId {
    /// The id of `token` (one of `auth.admin_tokens`).
    pub fn of_token(token: &str) -> Self {
        Self::of_digest(&Sha256::digest(token.as_bytes()).into())
    }

    /// The id of the token whose SHA-256 is `digest`.
    pub fn of_digest(digest: &[u8; 32]) -> Self {
        Self([digest[0], digest[1], digest[2], digest[3]])
    }

    /// Parses the 8 lowercase hex digits [`std::fmt::Display`] writes.
    pub fn parse(raw: &str) -> Result<Self, super::InvalidValue> {
        let invalid = || super::InvalidValue("an admin id is 8 lowercase hex digits");
        if raw.len() != 8 || !raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 4];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl std::fmt::Display for AdminId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for AdminId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_start_of_the_tokens_sha256() {
        let id = AdminId::of_token("admin-token");
        let full = format!("{:x}", Sha256::digest(b"admin-token"));
        assert_eq!(id.to_string(), full[..8]);
        assert_eq!(AdminId::parse(&id.to_string()), Ok(id));
        assert_ne!(AdminId::of_token("admin-token2"), id);
        for bad in ["", "1234567", "123456789", "ABCDEF12", "1234567g"] {
            assert!(AdminId::parse(bad).is_err(), "{bad}");
        }
    }
}
