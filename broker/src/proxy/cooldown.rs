//! The app-wide pause after Spotify answers 429: no request goes to Spotify until it ends, on this
//! replica at once and on the others once they adopt the pause recorded in the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::UnixTime;
use crate::store::Store;

/// Until when Spotify must not be called, shared by every request of this process.
#[derive(Debug, Default)]
pub struct Cooldown {
    until_ms: AtomicU64,
    /// Where the pause is recorded for the other replicas (none in unit tests).
    store: Option<Store>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Cooldown {
    /// A pause shared with the other replicas through `store`.
    pub fn shared(store: Store) -> Self {
        Self {
            until_ms: AtomicU64::new(0),
            store: Some(store),
        }
    }

    /// Starts (or extends) the pause here and records it for the other replicas, in the background so
    /// that the caller's answer does not wait on the database.
    pub fn pause(&self, length: Duration) {
        self.trip(length);
        let Some(store) = self.store.clone() else {
            return;
        };
        let until_ms = i64::try_from(self.until_ms()).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            if let Err(err) = store
                .record_rate_limit_pause(until_ms, UnixTime::now())
                .await
            {
                tracing::warn!(error = ?err, "could not share the rate-limit pause");
            }
        });
    }

    /// Starts (or extends) the pause on this replica only.
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
