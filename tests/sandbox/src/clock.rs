//! The sandbox clock: real time plus an offset that tests advance to age tokens without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time shifted by a settable offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Milliseconds since the Unix epoch, as the sandbox sees it.
    pub fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Seconds since the Unix epoch, as the sandbox sees it.
    pub fn now_s(&self) -> i64 {
        self.now_ms() / 1000
    }

    /// Moves the sandbox clock forward by `secs` seconds; returns the total offset in seconds.
    pub fn advance(&self, secs: i64) -> i64 {
        let delta = secs.saturating_mul(1000);
        self.offset_ms
            .fetch_add(delta, Ordering::Relaxed)
            .saturating_add(delta)
            / 1000
    }

    /// The current offset from real time, in seconds.
    pub fn offset_s(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now_s();
        assert_eq!(clock.advance(3600), 3600);
        assert!(clock.now_s() >= before + 3600);
        assert_eq!(clock.offset_s(), 3600);
    }
}
