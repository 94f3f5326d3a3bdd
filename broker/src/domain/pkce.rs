//! PKCE (RFC 7636) values: the challenge a client sends and the verifier it later proves it with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::InvalidValue;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// An S256 code challenge (the only method accepted; `plain` gives no protection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    pub const METHOD: &'static str = "S256";

    /// Parses `code_challenge` with its `code_challenge_method` (absent means `plain`, which is refused).
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, InvalidValue> {
        if method != Some(Self::METHOD) {
            return Err(InvalidValue("code_challenge_method must be S256"));
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_unreserved) {
            return Err(InvalidValue(
                "code_challenge must be a base64url sha-256 digest",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time check that `verifier` hashes to this challenge.
    pub fn is_satisfied_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = verifier.challenge();
        computed.0.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// A PKCE code verifier: 43-128 unreserved characters.
#[derive(Clone)]
pub struct CodeVerifier(SecretString);

impl CodeVerifier {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if !(43..=128).contains(&raw.len()) || !raw.bytes().all(is_unreserved) {
            return Err(InvalidValue(
                "code_verifier must be 43-128 unreserved characters",
            ));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    /// A fresh verifier for the broker's own authorization request to Spotify.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn challenge(&self) -> CodeChallenge {
        CodeChallenge(URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.expose_secret().as_bytes())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                .unwrap();
        assert!(challenge.is_satisfied_by(&verifier));
        assert!(!challenge.is_satisfied_by(&CodeVerifier::generate()));
    }

    #[test]
    fn plain_is_refused() {
        assert!(CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None).is_err());
        assert!(
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("plain"))
                .is_err()
        );
    }
}
