//! The response cache: per link and endpoint, bounded in entries and bytes, with stale entries kept for
//! stale-if-error and stale-if-out-of-time, and identical concurrent misses coalesced into one fetch.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use moka::future::Cache;
use tokio::time::Instant;

use crate::domain::LinkId;

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
    pub endpoint: super::Endpoint,
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

/// The shared outcome of one coalesced fetch (`None` if the fetch task died).
pub type Flight<T> = Shared<BoxFuture<'static, Option<T>>>;

/// The cache and its in-flight fetches.
pub struct ResponseCache<T: Clone + Send + Sync + 'static> {
    entries: Cache<CacheKey, Arc<CachedAnswer>>,
    in_flight: Arc<Mutex<HashMap<CacheKey, Flight<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for ResponseCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

/// Per-entry bookkeeping beyond the body, counted against the byte bound.
const ENTRY_OVERHEAD: u64 = 256;

impl<T: Clone + Send + Sync + 'static> ResponseCache<T> {
    pub fn new(settings: CacheSettings) -> Self {
        // Each entry weighs at least max_bytes / max_entries, so both bounds hold at once.
        let floor = (settings.max_bytes / settings.max_entries.max(1)).max(1);
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(move |key: &CacheKey, answer: &Arc<CachedAnswer>| {
                let size =
                    answer.body.len() as u64 + key.path_and_query.len() as u64 + ENTRY_OVERHEAD;
                u32::try_from(size.max(floor)).unwrap_or(u32::MAX)
            })
            .time_to_live(Duration::from_secs(86_400))
            .support_invalidation_closures()
            .build();
        Self {
            entries,
            in_flight: Arc::default(),
        }
    }

    pub async fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        let entry = self.entries.get(key).await?;
        if entry.is_servable_stale() {
            Some(entry)
        } else {
            None
        }
    }

    pub async fn put(&self, key: CacheKey, answer: Arc<CachedAnswer>) {
        self.entries.insert(key, answer).await;
    }

    /// Joins the fetch already under way for `key`, or starts `fetch` on its own task (so it finishes
    /// and fills the cache even if every caller gives up waiting).
    pub fn join_or_start<F>(&self, key: &CacheKey, fetch: F) -> Flight<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut in_flight = match self.in_flight.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(flight) = in_flight.get(key) {
            return flight.clone();
        }
        let registry = Arc::clone(&self.in_flight);
        let done_key = key.clone();
        let task = tokio::spawn(async move {
            let outcome = fetch.await;
            let mut in_flight = match registry.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            in_flight.remove(&done_key);
            outcome
        });
        let flight: Flight<T> = async move { task.await.ok() }.boxed().shared();
        in_flight.insert(key.clone(), flight.clone());
        flight
    }

    /// Drops every entry of a link (revocation).
    pub fn forget_link(&self, link_id: LinkId) {
        if let Err(err) = self
            .entries
            .invalidate_entries_if(move |key, _| key.link_id == link_id)
        {
            tracing::warn!(error = %err, "could not drop cached answers");
        }
    }

    /// Drops a link's cached player state (after a player command).
    pub fn forget_player_state(&self, link_id: LinkId) {
        let result = self.entries.invalidate_entries_if(move |key, _| {
            key.link_id == link_id && key.endpoint.is_player_state()
        });
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not drop cached player state");
        }
    }
}
