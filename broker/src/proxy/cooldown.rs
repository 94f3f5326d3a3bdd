//! The app-wide pauses Spotify imposes, in one place: after a 429 (a burst rate limit or the exhausted
//! quota) no request goes to Spotify until the pause ends, and while Spotify refuses the app because
//! its owner lacks Premium every call is answered `app_not_permitted` at once, except one probe per
//! interval that notices the renewal. Each starts on this replica at once and reaches the others
//! through the store, whose state the background loop adopts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::UnixTime;
use crate::error::ApiError;
use crate::store::{AppIncidentRecord, Store};
use crate::telemetry::metrics::{self, CooldownKind};

/// Which 429 started a pause: they are answered with different codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseKind {
    /// A burst rate limit (`rate_limited`).
    RateLimit,
    /// The development-mode quota (`quota_exceeded`).
    Quota,
}

/// Whether a request may go to Spotify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Nothing is paused.
    Open,
    /// The owner's Premium incident is on and this request is the interval's probe.
    Probe,
}

/// The owner's Premium incident as this replica knows it.
#[derive(Debug, Default, Clone, Copy)]
struct Incident {
    since_ms: Option<u64>,
    /// When it last changed anywhere (the newest change wins across replicas).
    changed_ms: i64,
    next_probe_ms: u64,
}

/// The app-wide pauses, shared by every request of this process.
#[derive(Debug)]
pub struct Cooldown {
    rate_until_ms: AtomicU64,
    quota_until_ms: AtomicU64,
    /// A fast check for the incident, kept equal to `incident.since_ms.is_some()`.
    incident_on: AtomicBool,
    incident: Mutex<Incident>,
    probe_interval: Duration,
    /// Where pauses are recorded for the other replicas (none in unit tests).
    store: Option<Store>,
}

impl Default for Cooldown {
    fn default() -> Self {
        Self::new(None, Duration::from_secs(60))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(length: Duration) -> u64 {
    u64::try_from(length.as_millis()).unwrap_or(u64::MAX)
}

fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Cooldown {
    fn new(store: Option<Store>, probe_interval: Duration) -> Self {
        Self {
            rate_until_ms: AtomicU64::new(0),
            quota_until_ms: AtomicU64::new(0),
            incident_on: AtomicBool::new(false),
            incident: Mutex::new(Incident::default()),
            probe_interval,
            store,
        }
    }

    /// Pauses shared with the other replicas through `store`; during the Premium incident one request
    /// per `probe_interval` goes through.
    pub fn shared(store: Store, probe_interval: Duration) -> Self {
        Self::new(Some(store), probe_interval)
    }

    fn until(&self, kind: PauseKind) -> &AtomicU64 {
        match kind {
            PauseKind::RateLimit => &self.rate_until_ms,
            PauseKind::Quota => &self.quota_until_ms,
        }
    }

    /// The answer while a 429's pause lasts (checking uses nothing up, unlike [`Cooldown::admit`]).
    pub fn paused(&self) -> Option<ApiError> {
        let now = now_ms();
        let left = |kind| {
            let left = self.left_ms(kind, now);
            (left > 0).then(|| left.div_ceil(1000))
        };
        if let Some(retry_after_s) = left(PauseKind::Quota) {
            return Some(ApiError::QuotaExceeded { retry_after_s });
        }
        left(PauseKind::RateLimit).map(|retry_after_s| ApiError::RateLimited { retry_after_s })
    }

    /// Whether a request may go to Spotify now, or the answer it gets instead; during the Premium
    /// incident the first caller after each interval is the probe.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        if let Some(paused) = self.paused() {
            return Err(paused);
        }
        let now = now_ms();
        if !self.incident_on.load(Ordering::Acquire) {
            return Ok(Admission::Open);
        }
        let mut incident = self.incident.lock().unwrap_or_else(PoisonError::into_inner);
        if incident.since_ms.is_none() {
            return Ok(Admission::Open);
        }
        if now >= incident.next_probe_ms {
            incident.next_probe_ms = now.saturating_add(millis(self.probe_interval));
            return Ok(Admission::Probe);
        }
        Err(ApiError::AppNotPermitted)
    }

    /// Starts (or extends) a pause here and records it for the other replicas, in the background so
    /// that the caller's answer does not wait on the database.
    pub fn pause(&self, kind: PauseKind, length: Duration) {
        metrics::cooldown_started(CooldownKind::Paused(kind));
        self.trip(kind, length);
        let Some(store) = self.store.clone() else {
            return;
        };
        let until_ms = signed(self.until(kind).load(Ordering::Relaxed));
        tokio::spawn(async move {
            let recorded = match kind {
                PauseKind::RateLimit => {
                    store
                        .record_rate_limit_pause(until_ms, UnixTime::now())
                        .await
                }
                PauseKind::Quota => store.record_quota_pause(until_ms, UnixTime::now()).await,
            };
            if let Err(err) = recorded {
                tracing::warn!(error = ?err, "could not share the spotify pause");
            }
        });
    }

    /// Starts (or extends) a pause on this replica only.
    pub fn trip(&self, kind: PauseKind, length: Duration) {
        let until = now_ms().saturating_add(millis(length));
        self.until(kind).fetch_max(until, Ordering::Relaxed);
    }

    /// Extends a pause to an absolute time in milliseconds since the epoch (one another replica recorded).
    pub fn extend_to(&self, kind: PauseKind, until_ms: u64) {
        self.until(kind).fetch_max(until_ms, Ordering::Relaxed);
    }

    /// When a pause ends, in milliseconds since the epoch.
    pub fn until_ms(&self, kind: PauseKind) -> u64 {
        self.until(kind).load(Ordering::Relaxed)
    }

    /// Spotify refused the app because its owner lacks Premium: the incident begins (once) here and
    /// for the other replicas.
    pub fn owner_lacks_premium(&self) {
        let now = now_ms();
        let record = {
            let mut incident = self.incident.lock().unwrap_or_else(PoisonError::into_inner);
            if incident.since_ms.is_some() {
                return;
            }
            *incident = Incident {
                since_ms: Some(now),
                changed_ms: signed(now),
                next_probe_ms: now.saturating_add(millis(self.probe_interval)),
            };
            self.incident_on.store(true, Ordering::Release);
            metrics::cooldown_started(CooldownKind::PremiumIncident);
            AppIncidentRecord {
                since_ms: Some(signed(now)),
                changed_ms: signed(now),
            }
        };
        tracing::error!(
            "spotify refuses the app: its owner's premium subscription lapsed; every link is \
             answered app_not_permitted until spotify accepts a probe"
        );
        self.share(record);
    }

    /// Spotify answered something other than the owner's refusal: an incident under way is over, here
    /// and for the other replicas.
    pub fn spotify_answered(&self) {
        if !self.incident_on.load(Ordering::Acquire) {
            return;
        }
        let now = signed(now_ms());
        {
            let mut incident = self.incident.lock().unwrap_or_else(PoisonError::into_inner);
            if incident.since_ms.is_none() {
                return;
            }
            *incident = Incident {
                since_ms: None,
                changed_ms: now.max(incident.changed_ms + 1),
                next_probe_ms: 0,
            };
            self.incident_on.store(false, Ordering::Release);
        }
        tracing::warn!("spotify serves the app again; the owner's premium incident is over");
        self.share(AppIncidentRecord {
            since_ms: None,
            changed_ms: now,
        });
    }

    /// Adopts the incident state another replica recorded, when it is newer than what this one knows.
    pub fn adopt_incident(&self, record: AppIncidentRecord) {
        let mut incident = self.incident.lock().unwrap_or_else(PoisonError::into_inner);
        if record.changed_ms <= incident.changed_ms {
            return;
        }
        let since_ms = record.since_ms.and_then(|s| u64::try_from(s).ok());
        let next_probe_ms = match (incident.since_ms, since_ms) {
            (Some(_), Some(_)) => incident.next_probe_ms,
            (None, Some(_)) => now_ms().saturating_add(millis(self.probe_interval)),
            (_, None) => 0,
        };
        *incident = Incident {
            since_ms,
            changed_ms: record.changed_ms,
            next_probe_ms,
        };
        self.incident_on
            .store(since_ms.is_some(), Ordering::Release);
    }

    /// Time left in each pause (zero when none), for the metrics.
    pub fn remaining(&self) -> [(PauseKind, Duration); 2] {
        let now = now_ms();
        [PauseKind::RateLimit, PauseKind::Quota]
            .map(|kind| (kind, Duration::from_millis(self.left_ms(kind, now))))
    }

    /// Milliseconds left in a pause at `now` (zero when none).
    fn left_ms(&self, kind: PauseKind, now: u64) -> u64 {
        self.until(kind).load(Ordering::Relaxed).saturating_sub(now)
    }

    /// When the owner's Premium incident began, in milliseconds since the epoch, if one is on.
    pub fn incident_since_ms(&self) -> Option<u64> {
        self.incident
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .since_ms
    }

    fn share(&self, record: AppIncidentRecord) {
        let Some(store) = self.store.clone() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(err) = store.record_app_incident(record).await {
                tracing::warn!(error = ?err, "could not share the app incident");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after(result: Result<Admission, ApiError>) -> Option<(&'static str, u64)> {
        match result {
            Err(ApiError::RateLimited { retry_after_s }) => Some(("rate_limited", retry_after_s)),
            Err(ApiError::QuotaExceeded { retry_after_s }) => {
                Some(("quota_exceeded", retry_after_s))
            }
            _ => None,
        }
    }

    #[test]
    fn trips_and_expires() {
        let cooldown = Cooldown::default();
        assert_eq!(cooldown.admit().ok(), Some(Admission::Open));
        cooldown.trip(PauseKind::RateLimit, Duration::from_secs(3));
        assert_eq!(retry_after(cooldown.admit()), Some(("rate_limited", 3)));
        cooldown.trip(PauseKind::RateLimit, Duration::from_secs(1));
        assert_eq!(
            retry_after(cooldown.admit()),
            Some(("rate_limited", 3)),
            "a shorter trip never shortens the pause"
        );
        cooldown.trip(PauseKind::Quota, Duration::from_secs(2));
        assert_eq!(
            retry_after(cooldown.admit()),
            Some(("quota_exceeded", 2)),
            "the quota's pause is named as such"
        );
    }

    #[test]
    fn the_premium_incident_lets_one_probe_through_per_interval() {
        let cooldown = Cooldown::new(None, Duration::from_millis(50));
        cooldown.owner_lacks_premium();
        assert!(matches!(cooldown.admit(), Err(ApiError::AppNotPermitted)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cooldown.admit().ok(), Some(Admission::Probe));
        assert!(
            matches!(cooldown.admit(), Err(ApiError::AppNotPermitted)),
            "one probe per interval"
        );
        cooldown.spotify_answered();
        assert_eq!(cooldown.admit().ok(), Some(Admission::Open));
        assert_eq!(cooldown.incident_since_ms(), None);
    }

    #[test]
    fn a_newer_record_from_another_replica_wins() {
        let cooldown = Cooldown::default();
        cooldown.adopt_incident(AppIncidentRecord {
            since_ms: Some(5),
            changed_ms: 5,
        });
        assert!(matches!(cooldown.admit(), Err(ApiError::AppNotPermitted)));
        cooldown.adopt_incident(AppIncidentRecord {
            since_ms: None,
            changed_ms: 4,
        });
        assert_eq!(
            cooldown.incident_since_ms(),
            Some(5),
            "an older record is ignored"
        );
        cooldown.adopt_incident(AppIncidentRecord {
            since_ms: None,
            changed_ms: 6,
        });
        assert_eq!(cooldown.admit().ok(), Some(Admission::Open));
    }
}
