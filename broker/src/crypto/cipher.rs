//! AES-256-GCM sealing of Spotify tokens under a rotating key ring, bound to the row and field they belong to.
//!
//! A sealed value is `0x01 | key-id length | key id | 96-bit nonce | ciphertext+tag`, so it names the key that
//! opens it and keys can rotate without downtime. The associated data is the row identity plus the field name:
//! a ciphertext copied onto another row or field fails to open.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::KeyId;

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened; never says anything about the plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value names key {0}, which is not in the key ring")]
    UnknownKey(String),
    #[error("sealed value does not open (wrong key, wrong row or field, or tampered)")]
    Tampered,
    #[error("sealing failed")]
    Seal,
    #[error("key {key_id}: {reason}")]
    BadKey {
        key_id: String,
        reason: &'static str,
    },
    #[error("crypto.active_key_id {0} is not in crypto.keys")]
    MissingActiveKey(String),
}

/// The associated data binding a ciphertext to one field of one row.
#[derive(Debug, Clone)]
pub struct FieldAad(String);

impl FieldAad {
    pub fn new(table: &str, row_id: &str, field: &str) -> Self {
        Self(format!("broker/v1|{table}|{row_id}|{field}"))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configured keys, and which one new seals use.
pub struct KeyRing {
    keys: BTreeMap<KeyId, Aes256Gcm>,
    active: KeyId,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// A new random 256-bit key, base64-encoded for `crypto.keys`.
pub fn generate_key() -> SecretString {
    let mut key = [0u8; KEY_LEN];
    OsRng.fill_bytes(&mut key);
    SecretString::from(STANDARD.encode(key))
}

impl KeyRing {
    /// Builds the ring from base64 keys; every key must decode to exactly 32 bytes.
    pub fn new(
        keys: impl IntoIterator<Item = (KeyId, SecretString)>,
        active: KeyId,
    ) -> Result<Self, CipherError> {
        let mut ring = BTreeMap::new();
        for (key_id, encoded) in keys {
            let bad = |reason| CipherError::BadKey {
                key_id: key_id.to_string(),
                reason,
            };
            let bytes = STANDARD
                .decode(encoded.expose_secret().trim())
                .map_err(|_| bad("not valid base64"))?;
            if bytes.len() != KEY_LEN {
                return Err(bad("must decode to exactly 32 bytes"));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| bad("unusable"))?;
            ring.insert(key_id, cipher);
        }
        if !ring.contains_key(&active) {
            return Err(CipherError::MissingActiveKey(active.to_string()));
        }
        Ok(Self { keys: ring, active })
    }

    pub fn active_key_id(&self) -> &KeyId {
        &self.active
    }

    /// Seals `plaintext` under the active key with a fresh random nonce.
    pub fn seal(&self, plaintext: &str, aad: &FieldAad) -> Result<Vec<u8>, CipherError> {
        let cipher = self.keys.get(&self.active).ok_or(CipherError::Seal)?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.0.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Seal)?;
        let key_id = self.active.as_str().as_bytes();
        let key_id_len = u8::try_from(key_id.len()).map_err(|_| CipherError::Seal)?;
        let mut sealed = Vec::with_capacity(2 + key_id.len() + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_VERSION);
        sealed.push(key_id_len);
        sealed.extend_from_slice(key_id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a sealed value with whichever key it names.
    pub fn open(&self, sealed: &[u8], aad: &FieldAad) -> Result<SecretString, CipherError> {
        let (key_id, nonce, ciphertext) = split(sealed)?;
        let cipher = KeyId::parse(key_id)
            .ok()
            .and_then(|id| self.keys.get(&id))
            .ok_or_else(|| CipherError::UnknownKey(key_id.to_owned()))?;
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.0.as_bytes(),
                },
            )
            .map_err(|_| CipherError::Tampered)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| CipherError::Tampered)
    }

    /// The key id a sealed value names, so re-sealing can skip values already under the active key.
    pub fn key_id_of(sealed: &[u8]) -> Result<&str, CipherError> {
        split(sealed).map(|(key_id, _, _)| key_id)
    }
}

fn split(sealed: &[u8]) -> Result<(&str, &[u8], &[u8]), CipherError> {
    let (&version, rest) = sealed.split_first().ok_or(CipherError::Malformed)?;
    if version != FORMAT_VERSION {
        return Err(CipherError::Malformed);
    }
    let (&key_id_len, rest) = rest.split_first().ok_or(CipherError::Malformed)?;
    let key_id_len = usize::from(key_id_len);
    if rest.len() < key_id_len + NONCE_LEN + 16 {
        return Err(CipherError::Malformed);
    }
    let (key_id, rest) = rest.split_at(key_id_len);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let key_id = std::str::from_utf8(key_id).map_err(|_| CipherError::Malformed)?;
    Ok((key_id, nonce, ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(ids: &[&str], active: &str) -> KeyRing {
        KeyRing::new(
            ids.iter()
                .map(|id| (KeyId::parse(id).unwrap(), generate_key())),
            KeyId::parse(active).unwrap(),
        )
        .unwrap()
    }

    fn aad(row: &str) -> FieldAad {
        FieldAad::new("link", row, "spotify_refresh_token")
    }

    #[test]
    fn seals_differ_each_time() {
        let ring = ring(&["k1"], "k1");
        assert_ne!(
            ring.seal("x", &aad("r")).unwrap(),
            ring.seal("x", &aad("r")).unwrap()
        );
    }

    #[test]
    fn old_keys_keep_opening_after_rotation() {
        let k1 = generate_key();
        let k2 = generate_key();
        let id = |s| KeyId::parse(s).unwrap();
        let before = KeyRing::new([(id("k1"), k1.clone())], id("k1")).unwrap();
        let sealed = before.seal("refresh", &aad("r")).unwrap();
        let after = KeyRing::new([(id("k1"), k1), (id("k2"), k2)], id("k2")).unwrap();
        assert_eq!(
            after.open(&sealed, &aad("r")).unwrap().expose_secret(),
            "refresh"
        );
        assert_eq!(
            KeyRing::key_id_of(&after.seal("x", &aad("r")).unwrap()).unwrap(),
            "k2"
        );
    }

    #[test]
    fn refuses_bad_keys() {
        let id = KeyId::parse("k1").unwrap();
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert!(matches!(
            KeyRing::new([(id.clone(), short)], id.clone()),
            Err(CipherError::BadKey { .. })
        ));
        let junk = SecretString::from("not base64!".to_owned());
        assert!(matches!(
            KeyRing::new([(id.clone(), junk)], id.clone()),
            Err(CipherError::BadKey { .. })
        ));
        let other = KeyId::parse("k2").unwrap();
        assert!(matches!(
            KeyRing::new([(id, generate_key())], other),
            Err(CipherError::MissingActiveKey(_))
        ));
    }

    #[test]
    fn debug_hides_keys() {
        let debug = format!("{:?}", ring(&["k1"], "k1"));
        assert!(debug.contains("[redacted]"));
    }

    proptest! {
        #[test]
        fn open_inverts_seal(plaintext in ".{0,200}", row in "[a-z0-9-]{1,36}") {
            let ring = ring(&["k1"], "k1");
            let sealed = ring.seal(&plaintext, &aad(&row)).unwrap();
            let opened = ring.open(&sealed, &aad(&row)).unwrap();
            prop_assert_eq!(opened.expose_secret(), plaintext.as_str());
        }

        #[test]
        fn any_flipped_bit_fails(plaintext in ".{1,64}", bit in 0usize..2048) {
            let ring = ring(&["k1"], "k1");
            let mut sealed = ring.seal(&plaintext, &aad("r")).unwrap();
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(ring.open(&sealed, &aad("r")).is_err());
        }

        #[test]
        fn another_row_or_field_fails(plaintext in ".{0,64}", other in "[a-z0-9]{1,8}") {
            let ring = ring(&["k1"], "k1");
            let sealed = ring.seal(&plaintext, &aad("row-1")).unwrap();
            let moved = format!("row-1{other}");
            prop_assert!(ring.open(&sealed, &aad(&moved)).is_err());
            let other_field = FieldAad::new("link", "row-1", "spotify_access_token");
            prop_assert!(ring.open(&sealed, &other_field).is_err());
        }

        #[test]
        fn wrong_key_fails(plaintext in ".{0,64}") {
            let sealed = ring(&["k1"], "k1").seal(&plaintext, &aad("r")).unwrap();
            prop_assert!(ring(&["k1"], "k1").open(&sealed, &aad("r")).is_err());
        }

        #[test]
        fn junk_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..128)) {
            prop_assert!(ring(&["k1"], "k1").open(&junk, &aad("r")).is_err());
        }
    }
}
