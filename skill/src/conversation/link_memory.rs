//! What the skill remembers about users' links between requests, in bounded memory: recent link
//! status (to notice an upcoming relink without asking the broker every time), when each user was
//! last reminded to relink (at most once a day), and the last trouble Spotify gave each user (for
//! "why isn't Spotify working?").
//!
//! The memory is per process: with several replicas, or after a restart, a user may hear the
//! reminder once per replica per day at most.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::broker::{BrokerError, LinkInfo, LinkStatus};
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

/// How long the last trouble is remembered.
const TROUBLE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How many users' last trouble are kept.
const TROUBLE_CAPACITY: u64 = 10_000;

/// A problem the user can be told about later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TroubleKind {
    /// Playback control needs Premium.
    PremiumRequired,
    /// No active device.
    NoDevice,
    /// Spotify asked to slow down.
    Cooldown,
    /// The app's quota is used up.
    QuotaExceeded,
    /// Spotify refuses the app (allowlist, owner's Premium).
    AppNotPermitted,
}

/// The last trouble, when it happened and when it should be over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trouble {
    /// What it was.
    pub kind: TroubleKind,
    /// When the skill saw it.
    pub at: chrono::DateTime<chrono::Utc>,
    /// When Spotify said it would be over (cooldowns).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Per-process memory of links, reminders and troubles.
#[derive(Debug, Clone)]
pub struct LinkMemory {
    links: Cache<UserId, LinkInfo>,
    troubles: Cache<UserId, Trouble>,
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
            troubles: Cache::builder()
                .max_capacity(TROUBLE_CAPACITY)
                .time_to_live(TROUBLE_TTL)
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

    /// Remembers `error` as the user's last trouble when it is one the user can be told about.
    pub async fn note_error(&self, user: &UserId, error: &BrokerError) {
        let now = self.clock.now();
        let wait = |s: &Option<u64>| {
            s.and_then(|s| i64::try_from(s).ok())
                .map(|s| now + chrono::Duration::seconds(s))
        };
        let (kind, until) = match error {
            BrokerError::PremiumRequired => (TroubleKind::PremiumRequired, None),
            BrokerError::NoActiveDevice => (TroubleKind::NoDevice, None),
            BrokerError::RateLimited { retry_after_s } => {
                (TroubleKind::Cooldown, wait(retry_after_s))
            }
            BrokerError::QuotaExceeded { retry_after_s } => {
                (TroubleKind::QuotaExceeded, wait(retry_after_s))
            }
            BrokerError::AppNotPermitted => (TroubleKind::AppNotPermitted, None),
            _ => return,
        };
        self.troubles
            .insert(
                user.clone(),
                Trouble {
                    kind,
                    at: now,
                    until,
                },
            )
            .await;
    }

    /// Forgets the last trouble (Spotify did what was asked since).
    pub async fn clear_trouble(&self, user: &UserId) {
        self.troubles.invalidate(user).await;
    }

    /// The user's last trouble, if any is remembered.
    pub async fn trouble(&self, user: &UserId) -> Option<Trouble> {
        self.troubles.get(user).await
    }

    /// The skill's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
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
    async fn remembers_the_last_trouble_per_user_until_cleared() {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let memory = LinkMemory::new(chrono::Duration::days(14), Arc::new(FixedClock::new(now)));
        let ann = UserId::parse("ann").unwrap();
        memory.note_error(&ann, &BrokerError::NotFound).await;
        assert_eq!(memory.trouble(&ann).await, None, "not a trouble to explain");
        memory
            .note_error(
                &ann,
                &BrokerError::QuotaExceeded {
                    retry_after_s: Some(600),
                },
            )
            .await;
        let trouble = memory.trouble(&ann).await.unwrap();
        assert_eq!(trouble.kind, TroubleKind::QuotaExceeded);
        assert_eq!(trouble.until, Some(now + chrono::Duration::minutes(10)));
        memory.note_error(&ann, &BrokerError::NoActiveDevice).await;
        assert_eq!(
            memory.trouble(&ann).await.unwrap().kind,
            TroubleKind::NoDevice
        );
        memory.clear_trouble(&ann).await;
        assert_eq!(memory.trouble(&ann).await, None);
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
