//! The sealed formats of the README: key-ring values (`0x01`), data-key values (`0x02`) and wrapped
//! data keys (`0x03`).
//!
//! Invariants: nothing panics; bytes open only when they have the documented layout; `key_id_of` only names a key
//! for bytes of the key-ring layout; a seal of arbitrary text opens to the same text, and no longer
//! opens once any bit is flipped, on another row, or under another format's opener; a wrapped key
//! unwraps only with its own secret.

#![no_main]

use std::sync::LazyLock;

use broker::crypto::{DataKey, FieldAad, KeyRing, WrapAad};
use broker::domain::{KeyId, LinkId, TokenHash};
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};

const KEY: &str = "bG9jYWwtZGV2ZWxvcG1lbnQta2V5LW5vdC1zZWNyZXQ=";

static RING: LazyLock<Option<KeyRing>> = LazyLock::new(|| {
    let id = KeyId::parse("k1").ok()?;
    KeyRing::new([(id.clone(), SecretString::from(KEY.to_owned()))], id).ok()
});
static DATA_KEY: LazyLock<DataKey> = LazyLock::new(DataKey::generate);

fn field(row: &str) -> FieldAad {
    FieldAad::new("link", row, "spotify_refresh_token")
}

fn wrap_aad(secret: &str) -> Option<WrapAad> {
    let link = LinkId::parse("00000000-0000-4000-8000-000000000001").ok()?;
    Some(WrapAad::new(&link, &TokenHash::of(secret)))
}

fuzz_target!(|data: &[u8]| {
    let (Some(ring), Some(wrap)) = (RING.as_ref(), wrap_aad("brt_fuzz")) else {
        return;
    };
    let key = &*DATA_KEY;

    // Whatever opens has the documented layout (the seeds hold real values that do open).
    if ring.open(data, &field("r")).is_ok() {
        assert!(data.len() >= 2 + 2 + 12 + 16 && data[..4] == [1, 2, b'k', b'1']);
    }
    assert!(key.open(data, &field("r")).is_err(), "opened without the random data key");
    if DataKey::unwrap_with(data, "brt_fuzz", &wrap).is_ok() {
        assert!(data.len() == 61 && data[0] == 3, "unwrapped a {} byte value", data.len());
    }
    if let Ok(key_id) = KeyRing::key_id_of(data) {
        assert_eq!(data.first(), Some(&1));
        assert_eq!(usize::from(data[1]), key_id.len());
        assert!(data.len() >= 2 + key_id.len() + 12 + 16);
    }
    let _ = DataKey::sealed_it(data);

    // Seals of arbitrary text round-trip, and any change breaks them.
    let plaintext = String::from_utf8_lossy(data);
    let bit = data.iter().fold(0usize, |acc, b| acc.wrapping_mul(31).wrapping_add(usize::from(*b)));
    let sealed = ring.seal(&plaintext, &field("r")).expect("seal");
    assert_eq!(KeyRing::key_id_of(&sealed), Ok("k1"));
    assert_eq!(ring.open(&sealed, &field("r")).expect("open").expose_secret(), &*plaintext);
    assert!(ring.open(&sealed, &field("r2")).is_err());
    assert!(key.open(&sealed, &field("r")).is_err());
    let mut flipped = sealed.clone();
    let at = bit % (flipped.len() * 8);
    flipped[at / 8] ^= 1 << (at % 8);
    assert!(ring.open(&flipped, &field("r")).is_err(), "flipped bit {at} still opens");

    let sealed = key.seal(&plaintext, &field("r")).expect("seal");
    assert!(DataKey::sealed_it(&sealed));
    assert_eq!(key.open(&sealed, &field("r")).expect("open").expose_secret(), &*plaintext);
    assert!(ring.open(&sealed, &field("r")).is_err());
    let mut flipped = sealed.clone();
    let at = bit % (flipped.len() * 8);
    flipped[at / 8] ^= 1 << (at % 8);
    assert!(key.open(&flipped, &field("r")).is_err(), "flipped bit {at} still opens");

    // A wrap opens with its own secret only.
    let Some(aad) = wrap_aad(&plaintext) else {
        return;
    };
    let wrapped = key.wrap_for(&plaintext, &aad).expect("wrap");
    assert_eq!(wrapped.len(), 61);
    let unwrapped = DataKey::unwrap_with(&wrapped, &plaintext, &aad).expect("unwrap");
    assert_eq!(unwrapped.open(&sealed, &field("r")).expect("open").expose_secret(), &*plaintext);
    let other = format!("{plaintext}x");
    assert!(DataKey::unwrap_with(&wrapped, &other, &aad).is_err());
    assert!(key.open(&wrapped, &field("r")).is_err());
});
