//! What operators read about links: metadata with filters and paging, when a link was last refreshed
//! and last used, and how its tokens are sealed. Never a token.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::links::{LinkStatus, LinkSummary, summary_from_row};
use super::{Store, StoreError};
use crate::domain::{LinkId, UnixTime};

/// Spotify refresh tokens stop working six months after consent, whatever refreshing happens.
pub const SPOTIFY_GRANT_LIFETIME_S: i64 = 183 * 24 * 3600;

/// Which links to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkFilter {
    pub status: Option<LinkStatus>,
    /// Only links whose Spotify grant dies before this.
    pub relink_due_before: Option<UnixTime>,
}

/// A link's metadata as operators see it.
#[derive(Debug, Clone)]
pub struct LinkDetails {
    pub summary: LinkSummary,
    /// When its Spotify access token was last refreshed.
    pub last_refreshed_at: Option<UnixTime>,
    /// When the skill last used it (recorded at most once a minute per broker token and replica).
    pub last_used_at: Option<UnixTime>,
    /// What seals its Spotify tokens: `key_ring` or `data_key`.
    pub sealed_by: String,
}

impl LinkDetails {
    /// When the user must link again: six months after consent.
    pub fn relink_due_at(&self) -> UnixTime {
        self.summary
            .authorized_at
            .plus_secs(SPOTIFY_GRANT_LIFETIME_S)
    }
}

// `sealed_by` is the key ring for every link until per-link data keys add the column.
const DETAIL_COLUMNS: &str =
    "link_id, spotify_user_id, display_name, status, scopes, authorized_at,
     updated_at, last_refreshed_at, last_used_at, sealed_by";

fn details_from_row(row: &AnyRow) -> Result<LinkDetails, StoreError> {
    let time = |column| -> Result<Option<UnixTime>, StoreError> {
        Ok(row
            .try_get::<Option<i64>, _>(column)?
            .map(UnixTime::from_secs))
    };
    Ok(LinkDetails {
        summary: summary_from_row(row)?,
        last_refreshed_at: time("last_refreshed_at")?,
        last_used_at: time("last_used_at")?,
        sealed_by: row.try_get("sealed_by")?,
    })
}

impl Store {
    /// Links in id order that pass `filter`, `limit` at a time, starting after `after`.
    pub async fn list_link_details(
        &self,
        filter: LinkFilter,
        after: Option<&LinkId>,
        limit: i64,
    ) -> Result<Vec<LinkDetails>, StoreError> {
        let authorized_before = filter.relink_due_before.map_or(i64::MAX, |due| {
            due.plus_secs(-SPOTIFY_GRANT_LIFETIME_S).as_secs()
        });
        let rows = sqlx::query(&format!(
            "select {DETAIL_COLUMNS} from link
             where link_id > $1 and ($2 = '' or status = $2) and authorized_at < $3
             order by link_id limit $4"
        ))
        .bind(after.map(ToString::to_string).unwrap_or_default())
        .bind(filter.status.map(LinkStatus::as_str).unwrap_or_default())
        .bind(authorized_before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(details_from_row).collect()
    }

    /// One link's metadata.
    pub async fn link_details(&self, link_id: &LinkId) -> Result<Option<LinkDetails>, StoreError> {
        let row = sqlx::query(&format!(
            "select {DETAIL_COLUMNS} from link where link_id = $1"
        ))
        .bind(link_id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(details_from_row).transpose()
    }

    /// How many links are in each status (every status, zero included).
    pub async fn count_links_by_status(&self) -> Result<Vec<(LinkStatus, u64)>, StoreError> {
        let rows = sqlx::query("select status, count(*) as links from link group by status")
            .fetch_all(self.pool())
            .await?;
        let mut counts: Vec<(LinkStatus, u64)> = LinkStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for row in &rows {
            let status = LinkStatus::parse(&row.try_get::<String, _>("status")?)?;
            let links: i64 = row.try_get("links")?;
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = u64::try_from(links).unwrap_or_default();
            }
        }
        Ok(counts)
    }

    /// Records that the skill used a link (callers throttle: this is a write).
    pub async fn record_link_used(
        &self,
        link_id: &LinkId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "update link set last_used_at = $2
             where link_id = $1 and (last_used_at is null or last_used_at < $2)",
        )
        .bind(link_id.to_string())
        .bind(now.as_secs())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
