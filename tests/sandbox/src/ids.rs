//! Random opaque tokens and Spotify-looking base-62 ids.

use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random opaque token of `len` alphanumeric characters after `prefix`.
pub fn token(prefix: &str, len: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    out.extend(
        rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from),
    );
    out
}

/// A stable 22-character base-62 id derived from a kind and a name (for artists and albums named in seeds).
pub fn derived(kind: &str, name: &str) -> String {
    let digest = Sha256::new()
        .chain_update(kind)
        .chain_update([0])
        .chain_update(name)
        .finalize();
    digest
        .iter()
        .take(22)
        .map(|b| char::from(BASE62[usize::from(*b) % BASE62.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = token("AQ", 40);
        assert!(a.starts_with("AQ"));
        assert_eq!(a.len(), 42);
        assert_ne!(a, token("AQ", 40));
    }

    #[test]
    fn derived_ids_are_stable() {
        assert_eq!(
            derived("artist", "Miles Davis"),
            derived("artist", "Miles Davis")
        );
        assert_ne!(
            derived("artist", "Miles Davis"),
            derived("album", "Miles Davis")
        );
        assert_eq!(derived("album", "x").len(), 22);
    }
}
