//! What Spotify imposes on the app as a whole, stored for every replica and for operators: the owner's
//! Premium incident, the users Spotify refused at linking, and the development-mode seats in use.

use serde::Serialize;
use sqlx::Row;

use super::{Actor, Store, StoreError};
use crate::domain::UnixTime;

/// The one incident row: the app has one owner.
const SPOTIFY: &str = "spotify";
/// The quota's pause, a row of its own beside the rate limit's in `rate_limit_pause`.
const QUOTA: &str = "spotify_quota";

/// The audit kind of a refusal at linking.
pub const APP_REFUSED: &str = "app_refused";

/// The app-wide incident as last recorded by any replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppIncidentRecord {
    /// When the incident began (milliseconds since the epoch), or `None` when there is none.
    pub since_ms: Option<i64>,
    /// When it was last changed (the newest change wins).
    pub changed_ms: i64,
}

/// A user Spotify refused to serve at linking (the user's id is never kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppRefusal {
    pub reason: String,
    pub at: i64,
}

impl Store {
    /// Extends the quota's pause to `until_ms` (milliseconds since the epoch); never shortens it.
    pub async fn record_quota_pause(&self, until_ms: i64, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query(
            "insert into rate_limit_pause (rate_limit_pause_id, until_ms, updated_at) values ($1, $2, $3)
             on conflict (rate_limit_pause_id) do update set
                 until_ms = case when excluded.until_ms > rate_limit_pause.until_ms
                                 then excluded.until_ms else rate_limit_pause.until_ms end,
                 updated_at = excluded.updated_at",
        )
        .bind(QUOTA)
        .bind(until_ms)
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Until when (milliseconds since the epoch) the quota's pause lasts, if one was ever recorded.
    pub async fn quota_pause_until(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "select until_ms from rate_limit_pause where rate_limit_pause_id = $1",
        )
        .bind(QUOTA)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records the incident's state unless a newer change is stored already.
    pub async fn record_app_incident(&self, record: AppIncidentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "insert into app_incident (app_incident_id, since_ms, changed_ms) values ($1, $2, $3)
             on conflict (app_incident_id) do update set
                 since_ms = excluded.since_ms, changed_ms = excluded.changed_ms
             where excluded.changed_ms > app_incident.changed_ms",
        )
        .bind(SPOTIFY)
        .bind(record.since_ms.unwrap_or(0))
        .bind(record.changed_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The incident's stored state, if one was ever recorded.
    pub async fn app_incident(&self) -> Result<Option<AppIncidentRecord>, StoreError> {
        let row =
            sqlx::query("select since_ms, changed_ms from app_incident where app_incident_id = $1")
                .bind(SPOTIFY)
                .fetch_optional(self.pool())
                .await?;
        row.map(|row| {
            let since: i64 = row.try_get("since_ms")?;
            Ok(AppIncidentRecord {
                since_ms: (since > 0).then_some(since),
                changed_ms: row.try_get("changed_ms")?,
            })
        })
        .transpose()
    }

    /// Records that Spotify refused a user at linking, as an audit event of no link.
    pub async fn record_app_refusal(&self, reason: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_event (audit_event_id, link_id, action, actor, reason, created_at)
             values ($1, null, $2, $3, $4, $5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(APP_REFUSED)
        .bind(Actor::Broker.to_string())
        .bind(reason)
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest refusals at linking, newest first.
    pub async fn recent_app_refusals(&self, limit: i64) -> Result<Vec<AppRefusal>, StoreError> {
        let rows = sqlx::query(
            "select reason, created_at from audit_event where action = $1
             order by created_at desc, audit_event_id limit $2",
        )
        .bind(APP_REFUSED)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AppRefusal {
                    reason: row
                        .try_get::<Option<String>, _>("reason")?
                        .unwrap_or_default(),
                    at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Spotify users holding a development-mode seat: those of every link not revoked (a link waiting
    /// for a relink still names an allowlisted user).
    pub async fn seated_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "select count(distinct spotify_user_id) from link where status <> 'revoked'",
        )
        .fetch_one(self.pool())
        .await?)
    }
}
