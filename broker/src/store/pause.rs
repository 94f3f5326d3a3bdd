//! The app-wide pause after a Spotify 429, stored so that every replica honours it, not only the one
//! that was told.

use super::{Store, StoreError};
use crate::domain::UnixTime;

/// The one pause row: Spotify rate-limits the app as a whole.
const SPOTIFY: &str = "spotify";

impl Store {
    /// Extends the pause to `until_ms` (milliseconds since the epoch); a shorter pause never shortens it.
    pub async fn record_rate_limit_pause(
        &self,
        until_ms: i64,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "insert into rate_limit_pause (rate_limit_pause_id, until_ms, updated_at) values ($1, $2, $3)
             on conflict (rate_limit_pause_id) do update set
                 until_ms = case when excluded.until_ms > rate_limit_pause.until_ms
                                 then excluded.until_ms else rate_limit_pause.until_ms end,
                 updated_at = excluded.updated_at",
        )
        .bind(SPOTIFY)
        .bind(until_ms)
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Until when (milliseconds since the epoch) Spotify must not be called, if a pause was ever recorded.
    pub async fn rate_limit_pause_until(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select until_ms from rate_limit_pause where rate_limit_pause_id = $1",
        )
        .bind(SPOTIFY)
        .fetch_optional(self.pool())
        .await?)
    }
}
