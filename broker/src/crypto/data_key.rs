//! Per-link data keys: each link's Spotify tokens are sealed under a random 256-bit key of its own, and
//! that key is stored only wrapped by keys derived from the broker secrets Alexa holds for the link (its
//! live broker tokens, its unspent authorization codes). Without one of those secrets, neither the
//! database nor the key ring opens the link.
//!
//! Formats (AES-256-GCM, 96-bit random nonce, 128-bit tag):
//! - a value sealed under a data key: `0x02 | nonce (12) | ciphertext+tag`, associated data
//!   `broker/v1|<table>|<row id>|<field>` (as [`FieldAad`]);
//! - a wrapped data key: `0x03 | nonce (12) | ciphertext (32) + tag (16)` (61 bytes), under the key
//!   `HKDF-SHA-256(ikm = the broker secret as sent (e.g. "bat_…"), salt = none,
//!   info = "broker/v1 data-key wrap")`, associated data `broker/v1|wrap|<link id>|<sha-256 hex of the
//!   secret>`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use super::{CipherError, FieldAad};
use crate::domain::{LinkId, TokenHash};

const SEALED_VERSION: u8 = 2;
const WRAPPED_VERSION: u8 = 3;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// The HKDF `info` of a wrapping key: its own label, so it shares nothing with the lookup hash.
pub const WRAP_INFO: &[u8] = b"broker/v1 data-key wrap";

/// The associated data of a wrapped data key: which link, and which broker secret (by its hash).
#[derive(Debug, Clone)]
pub struct WrapAad(String);

impl WrapAad {
    pub fn new(link_id: &LinkId, secret_hash: &TokenHash) -> Self {
        Self(format!("broker/v1|wrap|{link_id}|{}", secret_hash.as_str()))
    }
}

/// One link's data key, opened. Its bytes are zeroed when dropped.
pub struct DataKey {
    bytes: SecretBox<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.bytes.expose_secret())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn cipher(key: &[u8; KEY_LEN]) -> Result<Aes256Gcm, CipherError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| CipherError::Seal)
}

fn encrypt(
    key: &[u8; KEY_LEN],
    version: u8,
    plaintext: &[u8],
    aad: &str,
) -> Result<Vec<u8>, CipherError> {
    let nonce: [u8; NONCE_LEN] = random();
    let ciphertext = cipher(key)?
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Seal)?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(version);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

fn decrypt(
    key: &[u8; KEY_LEN],
    version: u8,
    sealed: &[u8],
    aad: &str,
) -> Result<Vec<u8>, CipherError> {
    let (&found, rest) = sealed.split_first().ok_or(CipherError::Malformed)?;
    if found != version || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CipherError::Malformed);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    cipher(key)?
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Tampered)
}

/// The key that wraps a data key for one broker secret.
fn wrapping_key(secret: &str) -> Result<[u8; KEY_LEN], CipherError> {
    let mut key = [0u8; KEY_LEN];
    Hkdf::<Sha256>::new(None, secret.as_bytes())
        .expand(WRAP_INFO, &mut key)
        .map_err(|_| CipherError::Seal)?;
    Ok(key)
}

impl DataKey {
    /// A fresh random key for a new link (or a relink).
    pub fn generate() -> Self {
        Self::from_bytes(random())
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self {
            bytes: SecretBox::new(Box::new(bytes)),
        }
    }

    /// Seals a Spotify token of the link.
    pub fn seal(&self, plaintext: &str, aad: &FieldAad) -> Result<Vec<u8>, CipherError> {
        encrypt(
            self.bytes.expose_secret(),
            SEALED_VERSION,
            plaintext.as_bytes(),
            aad.as_str(),
        )
    }

    /// Opens a Spotify token of the link.
    pub fn open(&self, sealed: &[u8], aad: &FieldAad) -> Result<SecretString, CipherError> {
        let plaintext = decrypt(
            self.bytes.expose_secret(),
            SEALED_VERSION,
            sealed,
            aad.as_str(),
        )?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CipherError::Tampered)
    }

    /// Wraps this key for a broker secret (as Alexa will present it).
    pub fn wrap_for(&self, secret: &str, aad: &WrapAad) -> Result<Vec<u8>, CipherError> {
        encrypt(
            &wrapping_key(secret)?,
            WRAPPED_VERSION,
            self.bytes.expose_secret(),
            &aad.0,
        )
    }

    /// Unwraps a data key with the broker secret it was wrapped for.
    pub fn unwrap_with(wrapped: &[u8], secret: &str, aad: &WrapAad) -> Result<Self, CipherError> {
        let bytes = decrypt(&wrapping_key(secret)?, WRAPPED_VERSION, wrapped, &aad.0)?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CipherError::Malformed)?;
        Ok(Self::from_bytes(bytes))
    }

    /// Whether a stored value is sealed under a data key (rather than under the key ring).
    pub fn sealed_it(sealed: &[u8]) -> bool {
        sealed.first() == Some(&SEALED_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn aad() -> FieldAad {
        FieldAad::new("link", "l1", "spotify_refresh_token")
    }

    fn wrap_aad(secret: &str) -> WrapAad {
        WrapAad::new(
            &LinkId::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            &TokenHash::of(secret),
        )
    }

    #[test]
    fn a_wrapped_key_opens_only_with_its_secret_and_place() {
        let key = DataKey::generate();
        let sealed = key.seal("spotify-refresh", &aad()).unwrap();
        assert!(DataKey::sealed_it(&sealed));
        let wrapped = key.wrap_for("bat_one", &wrap_aad("bat_one")).unwrap();
        assert_eq!(wrapped.len(), 1 + NONCE_LEN + KEY_LEN + TAG_LEN);
        let opened = DataKey::unwrap_with(&wrapped, "bat_one", &wrap_aad("bat_one")).unwrap();
        assert_eq!(
            opened.open(&sealed, &aad()).unwrap().expose_secret(),
            "spotify-refresh"
        );
        assert_eq!(
            DataKey::unwrap_with(&wrapped, "bat_two", &wrap_aad("bat_one")).unwrap_err(),
            CipherError::Tampered
        );
        assert_eq!(
            DataKey::unwrap_with(&wrapped, "bat_one", &wrap_aad("bat_two")).unwrap_err(),
            CipherError::Tampered,
            "a wrap moved to another token's row does not open"
        );
        let other = DataKey::generate();
        assert_eq!(
            other.open(&sealed, &aad()).unwrap_err(),
            CipherError::Tampered
        );
        assert_eq!(
            key.open(
                &sealed,
                &FieldAad::new("link", "l2", "spotify_refresh_token")
            )
            .unwrap_err(),
            CipherError::Tampered
        );
        assert!(!format!("{key:?}").contains(|c: char| c.is_ascii_digit()));
    }

    #[test]
    fn the_wrapping_key_is_hkdf_with_its_own_label() {
        // An independent derivation of the documented format opens the wrap.
        let key = DataKey::generate();
        let wrapped = key.wrap_for("brt_x", &wrap_aad("brt_x")).unwrap();
        let mut derived = [0u8; KEY_LEN];
        Hkdf::<Sha256>::new(None, b"brt_x")
            .expand(b"broker/v1 data-key wrap", &mut derived)
            .unwrap();
        let raw = decrypt(&derived, 3, &wrapped, &wrap_aad("brt_x").0).unwrap();
        assert_eq!(raw.as_slice(), key.bytes.expose_secret());
    }

    proptest! {
        #[test]
        fn junk_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), secret in "[a-z_]{0,20}") {
            let _ = DataKey::unwrap_with(&bytes, &secret, &wrap_aad(&secret));
            let _ = DataKey::generate().open(&bytes, &aad());
        }

        #[test]
        fn seal_and_wrap_round_trip(plain in ".{0,200}", secret in "[A-Za-z0-9_]{1,60}") {
            let key = DataKey::generate();
            let sealed = key.seal(&plain, &aad()).unwrap();
            let wrapped = key.wrap_for(&secret, &wrap_aad(&secret)).unwrap();
            let opened = DataKey::unwrap_with(&wrapped, &secret, &wrap_aad(&secret)).unwrap();
            let back = opened.open(&sealed, &aad()).unwrap();
            prop_assert_eq!(back.expose_secret(), plain.as_str());
        }
    }
}
