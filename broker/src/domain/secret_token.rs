//! Opaque bearer secrets the broker issues (tokens, codes, states) and the hashes it stores instead.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::InvalidValue;

/// The SHA-256 of a secret, hex-encoded: the only form in which the store keeps broker secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        // generic-array's hex formatting fills a stack buffer and writes it once: cheaper per request
        // than the hex crate's character-by-character `String` (1,000 instructions per cached GET).
        Self(format!("{:x}", Sha256::digest(secret.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash read back from the store (the store only ever writes hashes it computed).
    pub fn from_stored(hex: &str) -> Self {
        Self(hex.to_owned())
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 256 random bits, base64url without padding (43 characters).
fn random_256_bits() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

macro_rules! secret_token {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh token: the prefix and 256 random bits.
            pub fn generate() -> Self {
                Self(SecretString::from(format!("{}{}", $prefix, random_256_bits())))
            }

            /// Accepts only the shape this broker issues, so junk never reaches the store.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let body = raw
                    .strip_prefix($prefix)
                    .ok_or(InvalidValue(concat!("token must start with ", $prefix)))?;
                let ok = body.len() == 43
                    && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if ok {
                    Ok(Self(SecretString::from(raw.to_owned())))
                } else {
                    Err(InvalidValue("token is malformed"))
                }
            }

            pub fn hash(&self) -> TokenHash {
                TokenHash::of(self.0.expose_secret())
            }

            /// The secret itself, for the one place that hands it to its owner.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_token!(
    /// The access token Alexa presents for a user (`bat_…`).
    BrokerAccessToken,
    "bat_"
);
secret_token!(
    /// The refresh token Alexa keeps for a user (`brt_…`).
    BrokerRefreshToken,
    "brt_"
);
secret_token!(
    /// A one-time authorization code handed to Alexa's redirect URI (`bac_…`).
    AuthorizationCode,
    "bac_"
);
secret_token!(
    /// The `state` the broker sends to Spotify and matches on the callback (`bst_…`).
    OAuthState,
    "bst_"
);
secret_token!(
    /// The cookie value that ties Spotify's callback to the browser that started linking (`bbb_…`).
    BrowserBinding,
    "bbb_"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_token_hash_is_the_lowercase_hex_sha256() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_tokens_parse_and_hash_stably() {
        let token = BrokerAccessToken::generate();
        let parsed = BrokerAccessToken::parse(token.expose()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(token.hash().as_str().len(), 64);
        assert_eq!(format!("{token:?}"), "BrokerAccessToken([redacted])");
    }

    #[test]
    fn prefixes_are_not_interchangeable() {
        let refresh = BrokerRefreshToken::generate();
        assert!(BrokerAccessToken::parse(refresh.expose()).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(raw in ".{0,80}") {
            let _ = BrokerAccessToken::parse(&raw);
            let _ = AuthorizationCode::parse(&raw);
        }
    }
}
