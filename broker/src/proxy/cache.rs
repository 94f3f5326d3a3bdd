//! The response cache: per link and endpoint, bounded in entries and bytes, with stale entries kept for
//! stale-if-error and stale-if-out-of-time, and identical concurrent misses coalesced into one fetch.
//!
//! The answers live in a quick_cache (CLOCK-Pro eviction, one hash table per shard): every unique search
//! is a new entry, and at the bound every insert evicts one, a churn under which moka's concurrent table
//! kept rebuilding itself (8 % of an uncached request in the profile).
//!
//! Forgetting a link (or its player state) also voids every fetch that started before it: such a fetch
//! still answers the callers who were waiting on it, but neither fills the cache nor takes new callers.
//!
//! The first caller of a fetch drives it in its own task: a miss nobody else asks for (every unique
//! search) costs no task and no shared future. If that caller stops waiting before the fetch ends, the
//! fetch moves to a task of its own and still fills the cache for whoever asks next.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Endpoint;
use crate::domain::LinkId;
use crate::fast_hash::{FastHash, MemoryCache as Cache};
use crate::lifecycle::ReplicaMemory;
use crate::store::ChangeKind;

/// Bounds of the response cache.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// One link's request, as the cache keys it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub link_id: LinkId,
    pub endpoint: Endpoint,
    pub path_and_query: String,
}

/// A stored Spotify answer.
#[derive(Debug)]
pub struct CachedAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub body: Bytes,
    pub fresh_until: Instant,
    pub stale_until: Instant,
}

impl CachedAnswer {
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.fresh_until
    }

    pub fn is_servable_stale(&self) -> bool {
        Instant::now() < self.stale_until
    }
}

/// A caller's wait for a fetch's outcome (`None` if the fetch panicked): the first caller leads the fetch,
/// later ones join it.
pub enum Flight<T: Clone + Send + Sync + 'static, F: Future<Output = T> + Send + 'static> {
    Lead(Leader<T, F>),
    Join(BoxFuture<'static, Option<T>>),
}

impl<T: Clone + Send + Sync + 'static, F: Future<Output = T> + Send + 'static> Future
    for Flight<T, F>
{
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.get_mut() {
            Self::Lead(leader) => Pin::new(leader).poll(cx),
            Self::Join(wait) => wait.as_mut().poll(cx),
        }
    }
}

/// A fetch's outcome, set once by whoever drives the fetch to its end, and awaited by the callers who
/// joined it.
struct Outcome<T> {
    value: OnceLock<Option<T>>,
    published: Notify,
}

impl<T: Clone> Outcome<T> {
    fn publish(&self, value: Option<T>) {
        let _ = self.value.set(value);
        self.published.notify_waiters();
    }

    async fn wait(self: Arc<Self>) -> Option<T> {
        loop {
            let published = self.published.notified();
            tokio::pin!(published);
            // Registered before the value is read, so a publish in between is not missed.
            published.as_mut().enable();
            if let Some(value) = self.value.get() {
                return value.clone();
            }
            published.await;
        }
    }
}

/// The first caller's wait: it polls the fetch itself. Dropped before the fetch ends (the caller's
/// deadline passed, or its client went away), it hands the fetch to a task of its own.
pub struct Leader<T: Clone + Send + Sync + 'static, F: Future<Output = T> + Send + 'static> {
    fetch: Option<Pin<Box<F>>>,
    outcome: Arc<Outcome<T>>,
    /// Held until the outcome is published.
    guard: Option<FlightGuard<T>>,
}

impl<T: Clone + Send + Sync + 'static, F: Future<Output = T> + Send + 'static> Future
    for Leader<T, F>
{
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let Some(fetch) = this.fetch.as_mut() else {
            return Poll::Ready(this.outcome.value.get().cloned().flatten());
        };
        let value = match std::panic::catch_unwind(AssertUnwindSafe(|| fetch.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Some(value),
            Err(_) => None,
        };
        this.fetch = None;
        this.outcome.publish(value.clone());
        this.guard = None;
        Poll::Ready(value)
    }
}

impl<T: Clone + Send + Sync + 'static, F: Future<Output = T> + Send + 'static> Drop
    for Leader<T, F>
{
    fn drop(&mut self) {
        let Some(fetch) = self.fetch.take() else {
            return;
        };
        let outcome = Arc::clone(&self.outcome);
        let guard = self.guard.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let value = AssertUnwindSafe(fetch).catch_unwind().await.ok();
                    outcome.publish(value);
                    drop(guard);
                });
            }
            // No runtime left to finish it (the process is stopping): the joined callers get no answer.
            Err(_) => {
                drop(fetch);
                outcome.publish(None);
                drop(guard);
            }
        }
    }
}

/// A ticket taken when a fetch starts: the cache accepts its answer only if nothing about the link was
/// forgotten since.
#[derive(Debug, Clone, Copy)]
pub struct FetchTicket {
    started: u64,
}

struct InFlight<T> {
    id: u64,
    outcome: Arc<Outcome<T>>,
}

type Registry<T> = Arc<Mutex<HashMap<CacheKey, InFlight<T>, FastHash>>>;

/// How long a "forgotten at" mark is kept: longer than any fetch may run.
const FORGET_MARK_TTL: Duration = Duration::from_secs(600);

/// The cache and its in-flight fetches.
pub struct ResponseCache<T: Clone + Send + Sync + 'static> {
    entries: quick_cache::sync::Cache<CacheKey, Arc<CachedAnswer>, AnswerWeight>,
    in_flight: Registry<T>,
    /// A logical clock: every fetch start and every forget takes the next value.
    clock: AtomicU64,
    /// Per link, the clock value of its last forget (everything) and of its last player-state forget.
    link_forgotten: Cache<LinkId, u64>,
    player_forgotten: Cache<LinkId, u64>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for ResponseCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// Per-entry bookkeeping beyond the body, counted against the byte bound.
const ENTRY_OVERHEAD: u64 = 256;

/// An answer's weight against `cache.max_bytes`: its body, its path and the bookkeeping, and at least
/// `max_bytes / max_entries`, so that both bounds hold at once.
#[derive(Debug, Clone, Copy)]
struct AnswerWeight {
    floor: u64,
}

impl quick_cache::Weighter<CacheKey, Arc<CachedAnswer>> for AnswerWeight {
    fn weight(&self, key: &CacheKey, answer: &Arc<CachedAnswer>) -> u64 {
        (answer.body.len() as u64 + key.path_and_query.len() as u64 + ENTRY_OVERHEAD)
            .max(self.floor)
    }
}

fn lock<T>(registry: &Mutex<T>) -> MutexGuard<'_, T> {
    match registry.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Removes a flight from the registry when its fetch ends, however it ends (a panic included), unless a
/// newer flight for the same key has replaced it.
struct FlightGuard<T: Clone + Send + Sync + 'static> {
    registry: Registry<T>,
    key: CacheKey,
    id: u64,
}

impl<T: Clone + Send + Sync + 'static> Drop for FlightGuard<T> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.registry);
        if in_flight.get(&self.key).is_some_and(|f| f.id == self.id) {
            in_flight.remove(&self.key);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> ResponseCache<T> {
    pub fn new(settings: CacheSettings) -> Self {
        let entries = quick_cache::sync::Cache::with_weighter(
            usize::try_from(settings.max_entries).unwrap_or(usize::MAX),
            settings.max_bytes,
            AnswerWeight {
                floor: (settings.max_bytes / settings.max_entries.max(1)).max(1),
            },
        );
        let marks = || {
            moka::sync::Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(FORGET_MARK_TTL)
                .build_with_hasher(FastHash::default())
        };
        Self {
            entries,
            in_flight: Arc::default(),
            clock: AtomicU64::new(1),
            link_forgotten: marks(),
            player_forgotten: marks(),
        }
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::AcqRel)
    }

    /// The entry for `key` while it may still be served (fresh or stale); one past that is dropped.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        let entry = self.entries.get(key)?;
        if entry.is_servable_stale() {
            return Some(entry);
        }
        self.entries
            .remove_if(key, |current| Arc::ptr_eq(current, &entry));
        None
    }

    /// Taken before a fetch starts; see [`ResponseCache::put`].
    pub fn ticket(&self) -> FetchTicket {
        FetchTicket {
            started: self.tick(),
        }
    }

    /// Stores an answer, unless the link (or, for player state, its player) was forgotten after the
    /// fetch that produced it started. Returns whether it was stored.
    pub fn put(&self, key: CacheKey, answer: Arc<CachedAnswer>, ticket: FetchTicket) -> bool {
        if self.forgotten_since(&key, ticket) {
            return false;
        }
        self.entries.insert(key.clone(), Arc::clone(&answer));
        // A forget that ran while the entry was being inserted wins.
        if self.forgotten_since(&key, ticket) {
            self.entries
                .remove_if(&key, |current| Arc::ptr_eq(current, &answer));
            return false;
        }
        true
    }

    fn forgotten_since(&self, key: &CacheKey, ticket: FetchTicket) -> bool {
        let after = |marks: &Cache<LinkId, u64>| {
            marks
                .get(&key.link_id)
                .is_some_and(|at| at > ticket.started)
        };
        after(&self.link_forgotten)
            || (key.endpoint.is_player_state() && after(&self.player_forgotten))
    }

    /// Joins the fetch already under way for `key`, or leads `fetch` (see the module's notes on how it
    /// still finishes and fills the cache when every caller gives up waiting); `true` with it when joined.
    pub fn join_or_start<F>(&self, key: &CacheKey, fetch: F) -> (Flight<T, F>, bool)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut in_flight = lock(&self.in_flight);
        if let Some(existing) = in_flight.get(key) {
            let wait = Arc::clone(&existing.outcome).wait().boxed();
            return (Flight::Join(wait), true);
        }
        let id = self.tick();
        let outcome = Arc::new(Outcome {
            value: OnceLock::new(),
            published: Notify::new(),
        });
        in_flight.insert(
            key.clone(),
            InFlight {
                id,
                outcome: Arc::clone(&outcome),
            },
        );
        let leader = Leader {
            fetch: Some(Box::pin(fetch)),
            outcome,
            guard: Some(FlightGuard {
                registry: Arc::clone(&self.in_flight),
                key: key.clone(),
                id,
            }),
        };
        (Flight::Lead(leader), false)
    }

    /// Drops every entry of a link and detaches its fetches under way (revocation, relink).
    pub fn forget_link(&self, link_id: LinkId) {
        let at = self.tick();
        self.link_forgotten.insert(link_id, at);
        lock(&self.in_flight).retain(|key, _| key.link_id != link_id);
        self.entries.retain(|key, _| key.link_id != link_id);
    }

    /// Drops a link's cached player state and detaches its player fetches under way (after a player
    /// command).
    pub fn forget_player_state(&self, link_id: LinkId) {
        let at = self.tick();
        self.player_forgotten.insert(link_id, at);
        lock(&self.in_flight)
            .retain(|key, _| !(key.link_id == link_id && key.endpoint.is_player_state()));
        self.entries
            .retain(|key, _| !(key.link_id == link_id && key.endpoint.is_player_state()));
    }

    /// How many fetches are registered (tests and metrics).
    pub fn fetches_in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }
}

impl<T: Clone + Send + Sync + 'static> ReplicaMemory for ResponseCache<T> {
    fn forget(&self, link_id: LinkId, kind: ChangeKind) {
        match kind {
            ChangeKind::PlayerChanged => self.forget_player_state(link_id),
            ChangeKind::TokensRefreshed | ChangeKind::BrokerTokensRevoked => {}
            ChangeKind::Linked
            | ChangeKind::Relinked
            | ChangeKind::Revoked
            | ChangeKind::RelinkRequired
            | ChangeKind::Restored => self.forget_link(link_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ResponseCache<u32> {
        ResponseCache::new(CacheSettings {
            max_entries: 100,
            max_bytes: 1 << 20,
        })
    }

    fn key(endpoint: Endpoint) -> CacheKey {
        CacheKey {
            link_id: LinkId::parse("00000000-0000-4000-8000-000000000001").unwrap(),
            endpoint,
            path_and_query: "/me/player".to_owned(),
        }
    }

    fn answer() -> Arc<CachedAnswer> {
        let now = Instant::now();
        Arc::new(CachedAnswer {
            status: 200,
            content_type: None,
            etag: None,
            body: Bytes::from_static(b"{}"),
            fresh_until: now + Duration::from_secs(60),
            stale_until: now + Duration::from_secs(120),
        })
    }

    #[tokio::test]
    async fn a_fetch_started_before_a_forget_does_not_fill_the_cache() {
        let cache = cache();
        let player = key(Endpoint::Player);
        let ticket = cache.ticket();
        cache.forget_player_state(player.link_id);
        assert!(!cache.put(player.clone(), answer(), ticket));
        assert!(cache.get(&player).is_none());
        let me = key(Endpoint::Me);
        assert!(
            cache.put(me.clone(), answer(), ticket),
            "a player forget leaves other endpoints alone"
        );
        cache.forget_link(me.link_id);
        assert!(cache.get(&me).is_none());
        assert!(!cache.put(me.clone(), answer(), ticket));
        assert!(cache.put(me.clone(), answer(), cache.ticket()));
    }

    #[tokio::test]
    async fn a_panicking_fetch_leaves_no_flight_behind() {
        let cache = cache();
        let player = key(Endpoint::Player);
        let (flight, _) = cache.join_or_start(&player, async {
            if player_panics() {
                panic!("fetch blew up");
            }
            1
        });
        assert_eq!(flight.await, None);
        assert_eq!(cache.fetches_in_flight(), 0);
        let (flight, joined) = cache.join_or_start(&player, async { 2 });
        assert!(!joined);
        assert_eq!(flight.await, Some(2), "the next caller starts a new fetch");
    }

    #[tokio::test]
    async fn a_forget_detaches_fetches_under_way() {
        let cache = cache();
        let player = key(Endpoint::Player);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let (first, _) = cache.join_or_start(&player, async move {
            let _ = wait.await;
            1
        });
        let (_, joined) = cache.join_or_start(&player, async { 3 });
        assert!(
            joined,
            "a caller before the write joins the fetch under way"
        );
        cache.forget_player_state(player.link_id);
        let (second, joined) = cache.join_or_start(&player, async { 2 });
        assert!(!joined);
        assert_eq!(
            second.await,
            Some(2),
            "callers after the write do not join the old fetch"
        );
        let _ = release.send(());
        assert_eq!(first.await, Some(1));
        assert_eq!(cache.fetches_in_flight(), 0);
    }

    #[tokio::test]
    async fn a_fetch_outlives_a_leader_that_stops_waiting() {
        let cache = cache();
        let player = key(Endpoint::Player);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let (finished, fetch_ended) = tokio::sync::oneshot::channel::<()>();
        let (leader, joined) = cache.join_or_start(&player, async move {
            let _ = wait.await;
            let _ = finished.send(());
            1
        });
        assert!(!joined);
        let gave_up = tokio::time::timeout(Duration::from_millis(10), leader).await;
        assert!(gave_up.is_err(), "the fetch is still waiting");
        let (joiner, joined) = cache.join_or_start(&player, async { 2 });
        assert!(joined, "the fetch is still under way without its leader");
        let _ = release.send(());
        assert_eq!(
            joiner.await,
            Some(1),
            "a joined caller gets the fetch's answer"
        );
        assert!(fetch_ended.await.is_ok());
        assert_eq!(cache.fetches_in_flight(), 0);
    }

    #[tokio::test]
    async fn joined_callers_get_the_leaders_answer() {
        let cache = cache();
        let me = key(Endpoint::Me);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let (leader, _) = cache.join_or_start(&me, async move {
            let _ = wait.await;
            7
        });
        let joiners: Vec<_> = (0..3)
            .map(|_| cache.join_or_start(&me, async { 8 }))
            .inspect(|(_, joined)| assert!(joined))
            .map(|(flight, _)| tokio::spawn(flight))
            .collect();
        let _ = release.send(());
        assert_eq!(leader.await, Some(7));
        for joiner in joiners {
            assert_eq!(joiner.await.unwrap(), Some(7));
        }
        assert_eq!(cache.fetches_in_flight(), 0);
    }

    fn answer_of(bytes: usize, fresh: Duration, stale: Duration) -> Arc<CachedAnswer> {
        let now = Instant::now();
        Arc::new(CachedAnswer {
            status: 200,
            content_type: None,
            etag: None,
            body: Bytes::from(vec![b'x'; bytes]),
            fresh_until: now + fresh,
            stale_until: now + fresh + stale,
        })
    }

    fn search(n: usize) -> CacheKey {
        CacheKey {
            path_and_query: format!("/search?type=track&q={n}"),
            ..key(Endpoint::Search)
        }
    }

    #[tokio::test]
    async fn both_bounds_hold_under_churn() {
        let cache = cache();
        let minute = Duration::from_secs(60);
        for n in 0..5_000 {
            assert!(cache.put(search(n), answer_of(10, minute, minute), cache.ticket()));
        }
        assert!(
            cache.entries.len() <= 100,
            "{} entries",
            cache.entries.len()
        );
        for n in 0..200 {
            cache.put(search(n), answer_of(50_000, minute, minute), cache.ticket());
        }
        assert!(
            cache.entries.weight() <= 1 << 20,
            "{} bytes",
            cache.entries.weight()
        );
        assert!(cache.get(&search(199)).is_some(), "recent entries are kept");
    }

    #[tokio::test]
    async fn an_answer_past_its_stale_window_is_dropped() {
        let cache = cache();
        let me = key(Endpoint::Me);
        cache.put(
            me.clone(),
            answer_of(2, Duration::ZERO, Duration::ZERO),
            cache.ticket(),
        );
        assert!(cache.get(&me).is_none());
        assert_eq!(cache.entries.len(), 0);
    }

    fn player_panics() -> bool {
        true
    }
}
