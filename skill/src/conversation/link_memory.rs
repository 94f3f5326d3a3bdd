//! What the skill remembers about users' links between requests, in bounded memory: recent link
//! status (to notice an upcoming relink without asking the broker every time) and when each user was
//! last reminded to relink (at most once a day).
//!
//! The memory is per process: with several replicas, or after a restart, a user may hear the
//! reminder once per replica per day at most.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::broker::{LinkInfo, LinkStatus};
use crate::identifiers::UserId;
use crate::verify::clock::Clock;

/// How long a link status is reused.
const LINK_TTL: Duration = Duration::from_secs(10 * 60);
/// How many users' link status are kept.
const LINK_CAPACITY: u64 = 10_000;
/// How long between two reminders to the same user.
const REMINDER_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// How many users' reminder times are kept.
const REMINDER_CAPACITY: u64 = 100_000;

/// Per-process memory of links and reminders.
#[derive(Debug, Clone)]
pub struct LinkMemory {
    links: Cache<UserId, LinkInfo>,
    /// When each user was last reminded, by the skill's clock.
    reminded: Cache<UserId, chrono::DateTime<chrono::Utc>>,
    window: chrono::Duration,
    clock: Arc<dyn Clock>,
}

impl LinkMemory {
    /// Reminds within `window` of `relink_due_at`, reading time from `clock`.
    pub fn new(window: chrono::Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            links: Cache::builder()
                .max_capacity(LINK_CAPACITY)
                .time_to_live(LINK_TTL)
                .build(),
            reminded: Cache::builder()
                .max_capacity(REMINDER_CAPACITY)
                .time_to_live(REMINDER_INTERVAL)
                .build(),
            window,
            clock,
        }
    }

    /// A recently seen link status.
    pub async fn recent(&self, user: &UserId) -> Option<LinkInfo> {
        self.links.get(user).await
    }

    /// Remembers a link status.
    pub async fn remember(&self, user: &UserId, info: LinkInfo) {
        self.links.insert(user.clone(), info).await;
    }

    /// Forgets the link status (after relink, revocation or a relink error).
    pub async fn forget(&self, user: &UserId) {
        self.links.invalidate(user).await;
    }

    /// Whether the link is due for renewal within the window.
    pub fn relink_soon(&self, info: &LinkInfo) -> bool {
        info.status == LinkStatus::Active
            && info
                .relink_due_at
                .is_some_and(|due| due - self.clock.now() <= self.window)
    }

    /// Whether to remind `user` now; records the reminder, so it answers `true` at most once a day.
    pub async fn take_reminder(&self, user: &UserId, info: &LinkInfo) -> bool {
        if !self.relink_soon(info) {
            return false;
        }
        let now = self.clock.now();
        let interval =
            chrono::Duration::from_std(REMINDER_INTERVAL).unwrap_or(chrono::Duration::days(1));
        if let Some(last) = self.reminded.get(user).await {
            if now - last < interval {
                return false;
            }
        }
        self.reminded.insert(user.clone(), now).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::verify::clock::FixedClock;

    fn info(due_in_days: i64, now: chrono::DateTime<Utc>) -> LinkInfo {
        LinkInfo {
            link_id: "l1".into(),
            status: LinkStatus::Active,
            display_name: Some("Ann".into()),
            authorized_at: None,
            relink_due_at: Some(now + chrono::Duration::days(due_in_days)),
        }
    }

    #[tokio::test]
    async fn reminds_within_two_weeks_once_per_user() {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let memory = LinkMemory::new(chrono::Duration::days(14), Arc::new(FixedClock::new(now)));
        let ann = UserId::parse("ann").unwrap();
        let bob = UserId::parse("bob").unwrap();
        assert!(!memory.take_reminder(&ann, &info(30, now)).await);
        assert!(memory.take_reminder(&ann, &info(13, now)).await);
        assert!(!memory.take_reminder(&ann, &info(13, now)).await);
        assert!(memory.take_reminder(&bob, &info(-1, now)).await);
        let mut dead = info(1, now);
        dead.status = LinkStatus::RelinkRequired;
        assert!(!memory.relink_soon(&dead));
    }

    #[tokio::test]
    async fn reminds_again_a_day_later_by_the_skills_clock() {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let clock = Arc::new(FixedClock::new(now));
        let memory = LinkMemory::new(chrono::Duration::days(14), clock.clone());
        let ann = UserId::parse("ann").unwrap();
        let due = info(10, now);
        assert!(memory.take_reminder(&ann, &due).await);
        clock.advance(chrono::Duration::hours(23));
        assert!(
            !memory.take_reminder(&ann, &due).await,
            "not twice in a day"
        );
        clock.advance(chrono::Duration::hours(2));
        assert!(memory.take_reminder(&ann, &due).await, "again the next day");
    }
}
