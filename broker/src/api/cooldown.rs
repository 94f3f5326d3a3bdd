//! The app-wide pause after Spotify answers 429: no request goes to Spotify until it ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Until when Spotify must not be called, shared by every request of this process.
#[derive(Debug, Default)]
pub struct Cooldown {
    until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Cooldown {
    /// Starts (or extends) the pause.
    pub fn trip(&self, length: Duration) {
        let until = now_ms().saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
        self.until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// Starts (or extends) the pause to an absolute time, in milliseconds since the epoch (a pause another
    /// replica recorded).
    pub fn extend_to(&self, until_ms: u64) {
        self.until_ms.fetch_max(until_ms, Ordering::Relaxed);
    }

    /// When the pause ends, in milliseconds since the epoch.
    pub fn until_ms(&self) -> u64 {
        self.until_ms.load(Ordering::Relaxed)
    }

    /// Whole seconds left (rounded up), or `None` when Spotify may be called.
    pub fn remaining_s(&self) -> Option<u64> {
        let left = self
            .until_ms
            .load(Ordering::Relaxed)
            .saturating_sub(now_ms());
        (left > 0).then(|| left.div_ceil(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_and_expires() {
        let cooldown = Cooldown::default();
        assert_eq!(cooldown.remaining_s(), None);
        cooldown.trip(Duration::from_secs(3));
        assert_eq!(cooldown.remaining_s(), Some(3));
        cooldown.trip(Duration::from_secs(1));
        assert_eq!(
            cooldown.remaining_s(),
            Some(3),
            "a shorter trip never shortens the pause"
        );
    }
}
