//! Whole seconds since the Unix epoch, the one time unit the store and tokens use.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(i64);

impl UnixTime {
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        Self(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    pub const fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    pub const fn as_secs(self) -> i64 {
        self.0
    }

    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// RFC 3339 in UTC, as the internal API renders timestamps.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp(self.0, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}
