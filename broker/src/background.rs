//! The broker's background loops, each owning its own: purging expired rows, following the change feed
//! (other replicas' link changes), adopting the app-wide pauses another replica recorded (a 429's
//! pause, the owner's Premium incident), and counting links by status for the metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::domain::UnixTime;
use crate::lifecycle::Lifecycle;
use crate::proxy::{Cooldown, PauseKind};
use crate::store::{LinkChange, Store, StoreError};
use crate::telemetry::metrics;

/// How often expired pending authorizations, codes, tokens and old changes are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How long the change feed keeps its rows (every replica has read them long before).
const CHANGE_RETENTION_S: i64 = 3600;
/// How often the change feed is read without being prompted (the safety net under LISTEN/NOTIFY).
pub const CHANGE_POLL: Duration = Duration::from_millis(500);
/// How often the shared rate-limit pause is read.
const PAUSE_POLL: Duration = Duration::from_millis(500);
/// Changes read per query of the feed.
const CHANGE_PAGE: i64 = 500;
/// How long a hole in the change ids is watched for a late commit (a transaction that took its id
/// before a sibling but committed after it) before it is taken as a rollback.
const GAP_WAIT: Duration = Duration::from_secs(10);

/// The running loops; dropping them stops nothing, [`Background::stop`] does.
#[derive(Debug)]
pub struct Background {
    loops: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts every loop; links are counted by status every `link_count_interval`.
    pub fn start(
        store: Store,
        lifecycle: Arc<Lifecycle>,
        cooldown: Arc<Cooldown>,
        link_count_interval: Duration,
    ) -> Self {
        Self {
            loops: vec![
                tokio::spawn(purge_periodically(store.clone())),
                tokio::spawn(follow_changes(store.clone(), lifecycle)),
                tokio::spawn(adopt_pause(store.clone(), cooldown)),
                tokio::spawn(count_links_periodically(store, link_count_interval)),
            ],
        }
    }

    pub fn stop(self) {
        for handle in self.loops {
            handle.abort();
        }
    }
}

async fn purge_periodically(store: Store) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    loop {
        ticker.tick().await;
        let now = UnixTime::now();
        match store.purge_expired(now).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "purged expired authorizations and tokens"),
            Err(err) => tracing::warn!(error = ?err, "purging expired rows failed"),
        }
        if let Err(err) = store
            .purge_changes(now.plus_secs(-CHANGE_RETENTION_S))
            .await
        {
            tracing::warn!(error = ?err, "purging old link changes failed");
        }
    }
}

/// Counts links by status for the metrics (and records whether the store answered).
async fn count_links_periodically(store: Store, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match store.count_links_by_status().await {
            Ok(counts) => {
                metrics::links(&counts);
                metrics::store_up(true);
            }
            Err(err) => {
                tracing::warn!(error = ?err, "counting links failed");
                metrics::store_up(false);
            }
        }
    }
}

/// Applies other replicas' link changes to this replica's memory: prompted by NOTIFY on Postgres, and
/// polled every [`CHANGE_POLL`] in any case.
async fn follow_changes(store: Store, lifecycle: Arc<Lifecycle>) {
    let prompt = Arc::new(Notify::new());
    let listener = tokio::spawn(listen_for_changes(store.clone(), Arc::clone(&prompt)));
    let mut cursor = loop {
        match store.latest_change_id().await {
            Ok(latest) => break FeedCursor::starting_after(latest),
            Err(err) => {
                tracing::debug!(error = ?err, "reading the change feed's start failed");
                tokio::time::sleep(CHANGE_POLL).await;
            }
        }
    };
    let mut ticker = tokio::time::interval(CHANGE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = prompt.notified() => {}
        }
        if let Err(err) = read_changes(&store, &lifecycle, &mut cursor).await {
            tracing::debug!(error = ?err, "reading link changes failed");
        }
        if listener.is_finished() {
            tracing::debug!("change listener ended; polling only");
        }
    }
}

/// Holds a LISTEN connection open (Postgres), reconnecting after failures, and prompts the feed.
async fn listen_for_changes(store: Store, prompt: Arc<Notify>) {
    loop {
        match store.listen_for_changes().await {
            Ok(None) => return,
            Ok(Some(mut listener)) => loop {
                match listener.next().await {
                    Ok(()) => prompt.notify_one(),
                    Err(err) => {
                        tracing::debug!(error = ?err, "change listener failed; reconnecting");
                        break;
                    }
                }
            },
            Err(err) => tracing::debug!(error = ?err, "could not listen for link changes"),
        }
        tokio::time::sleep(CHANGE_POLL).await;
    }
}

async fn read_changes(
    store: &Store,
    lifecycle: &Lifecycle,
    cursor: &mut FeedCursor,
) -> Result<(), StoreError> {
    loop {
        let page = store
            .changes_after(cursor.read_after(), CHANGE_PAGE)
            .await?;
        for change in cursor.accept(&page, Instant::now()) {
            if !change.own {
                lifecycle.apply_remote(change);
            }
        }
        if (page.len() as i64) < CHANGE_PAGE {
            return Ok(());
        }
    }
}

/// Where the feed stands: every id up to `applied_through` was applied, except the holes in `gaps`,
/// which a transaction that is still running may fill later.
#[derive(Debug)]
struct FeedCursor {
    applied_through: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl FeedCursor {
    fn starting_after(change_id: i64) -> Self {
        Self {
            applied_through: change_id,
            gaps: BTreeMap::new(),
        }
    }

    /// Reads resume below the oldest hole still watched.
    fn read_after(&self) -> i64 {
        self.gaps
            .keys()
            .next()
            .map_or(self.applied_through, |first| first - 1)
    }

    /// The changes of `page` not applied before, in order; records the holes the page leaves.
    fn accept<'a>(&mut self, page: &'a [LinkChange], now: Instant) -> Vec<&'a LinkChange> {
        self.gaps
            .retain(|_, seen| now.duration_since(*seen) < GAP_WAIT);
        let mut fresh = Vec::new();
        for change in page {
            let id = change.change_id;
            if id <= self.applied_through {
                if self.gaps.remove(&id).is_some() {
                    fresh.push(change);
                }
                continue;
            }
            for missing in (self.applied_through + 1)..id {
                self.gaps.insert(missing, now);
            }
            self.applied_through = id;
            fresh.push(change);
        }
        fresh
    }
}

/// Adopts the pauses and the incident another replica recorded, within about [`PAUSE_POLL`].
async fn adopt_pause(store: Store, cooldown: Arc<Cooldown>) {
    let mut ticker = tokio::time::interval(PAUSE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match store.rate_limit_pause_until().await {
            Ok(Some(until_ms)) => {
                cooldown.extend_to(PauseKind::RateLimit, u64::try_from(until_ms).unwrap_or(0))
            }
            Ok(None) => {}
            Err(err) => tracing::debug!(error = ?err, "reading the rate-limit pause failed"),
        }
        match store.quota_pause_until().await {
            Ok(Some(until_ms)) => {
                cooldown.extend_to(PauseKind::Quota, u64::try_from(until_ms).unwrap_or(0));
            }
            Ok(None) => {}
            Err(err) => tracing::debug!(error = ?err, "reading the quota pause failed"),
        }
        match store.app_incident().await {
            Ok(Some(record)) => cooldown.adopt_incident(record),
            Ok(None) => {}
            Err(err) => tracing::debug!(error = ?err, "reading the app incident failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LinkId;
    use crate::store::ChangeKind;

    fn change(change_id: i64) -> LinkChange {
        LinkChange {
            change_id,
            link_id: LinkId::generate(),
            kind: ChangeKind::Revoked,
            own: false,
        }
    }

    fn ids(changes: &[&LinkChange]) -> Vec<i64> {
        changes.iter().map(|c| c.change_id).collect()
    }

    #[test]
    fn a_change_committed_late_is_still_applied_once() {
        let now = Instant::now();
        let mut cursor = FeedCursor::starting_after(10);
        // 12 commits before 11, which took its id first.
        let first = [change(12)];
        assert_eq!(ids(&cursor.accept(&first, now)), vec![12]);
        assert_eq!(cursor.read_after(), 10, "reads go back to the hole");
        let second = [change(11), change(12), change(13)];
        assert_eq!(ids(&cursor.accept(&second, now)), vec![11, 13]);
        assert_eq!(cursor.read_after(), 13);
    }

    #[test]
    fn a_hole_is_given_up_after_a_while() {
        let now = Instant::now();
        let mut cursor = FeedCursor::starting_after(0);
        let page = [change(3)];
        cursor.accept(&page, now);
        assert_eq!(cursor.read_after(), 0);
        cursor.accept(&[], now + GAP_WAIT);
        assert_eq!(
            cursor.read_after(),
            3,
            "a rolled-back id is not waited for forever"
        );
    }
}
