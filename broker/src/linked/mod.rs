//! Linked accounts at request time: which link a broker token belongs to (binding the Alexa user who
//! presents it), the link's current Spotify tokens, and keeping both fresh without a database round trip
//! per request.

mod memory;
mod refresh;

pub use memory::{IssuedRefreshToken, LookupMark, TokenMemory};
pub use refresh::RefreshTasks;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use moka::sync::Cache;

use crate::crypto::{DataKey, WrapAad};
use crate::domain::{AlexaUserId, BrokerAccessToken, LinkId, UnixTime};
use crate::error::ApiError;
use crate::lifecycle::Lifecycle;
use crate::spotify::SpotifyAccounts;
use crate::store::{Link, LinkStatus, Sealing, Store};

use memory::TokenEntry;

/// Tuning for [`LinkedAccounts`].
#[derive(Debug, Clone)]
pub struct LinkedSettings {
    /// Refresh this many seconds before Spotify's access token expires.
    pub refresh_margin_s: i64,
    /// How long one replica may hold a link's refresh lease.
    pub refresh_lease_s: i64,
    /// How long to wait before asking Spotify again after an `invalid_grant`, to confirm it.
    pub invalid_grant_confirm: Duration,
    /// This many links refused within a minute is an upstream incident: no more are marked.
    pub relink_incident_threshold: i64,
    pub max_cached_tokens: u64,
}

/// A broker access token that proved itself: its link, and the link's data key it unwrapped (`None` for
/// a link still sealed by the key ring). Only this opens the link's Spotify tokens.
#[derive(Debug, Clone)]
pub struct LinkAccess {
    pub link_id: LinkId,
    key: Option<Arc<DataKey>>,
}

impl LinkAccess {
    pub(crate) fn key(&self) -> Option<&DataKey> {
        self.key.as_deref()
    }
}

/// Request-time access to links, with [`TokenMemory`] in front of the store.
pub struct LinkedAccounts {
    store: Store,
    lifecycle: Arc<Lifecycle>,
    memory: Arc<TokenMemory>,
    accounts: SpotifyAccounts,
    settings: LinkedSettings,
    refreshes: RefreshTasks,
    /// This process's identity as a refresh-lease owner.
    replica_id: String,
    refresh_locks: Cache<LinkId, Arc<tokio::sync::Mutex<()>>>,
}

/// `last_used_at` is written at most this often per broker token and replica.
const USE_RECORD_INTERVAL_S: i64 = 60;

impl std::fmt::Debug for LinkedAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedAccounts")
            .field("replica_id", &self.replica_id)
            .finish_non_exhaustive()
    }
}

impl LinkedAccounts {
    /// What this replica remembers of tokens and links (the token endpoint keeps the refresh tokens it
    /// issues there).
    pub fn memory(&self) -> &TokenMemory {
        &self.memory
    }

    pub fn new(
        lifecycle: Arc<Lifecycle>,
        memory: Arc<TokenMemory>,
        accounts: SpotifyAccounts,
        refreshes: RefreshTasks,
        settings: LinkedSettings,
    ) -> Self {
        Self {
            store: lifecycle.store().clone(),
            refresh_locks: Cache::builder()
                .max_capacity(settings.max_cached_tokens)
                .time_to_idle(Duration::from_secs(300))
                .build(),
            replica_id: uuid::Uuid::new_v4().to_string(),
            lifecycle,
            memory,
            accounts,
            refreshes,
            settings,
        }
    }

    /// The link a broker access token belongs to; `relink_required` for anything not live. When Alexa's
    /// user id comes along, it is bound to the link (written once, then remembered).
    pub async fn authenticate(
        &self,
        token: &BrokerAccessToken,
        user: Option<&AlexaUserId>,
    ) -> Result<LinkAccess, ApiError> {
        let now = UnixTime::now();
        let entry = self.resolve(token, now).await?;
        if let Some(user) = user {
            self.bind(user, entry.access.link_id).await;
        }
        self.record_use(&entry, now);
        Ok(entry.access)
    }

    /// Records in the background that the link was used, at most once a minute per token.
    fn record_use(&self, entry: &TokenEntry, now: UnixTime) {
        let last = entry.use_recorded_at.load(Ordering::Relaxed);
        if now.as_secs() - last < USE_RECORD_INTERVAL_S
            || entry
                .use_recorded_at
                .compare_exchange(last, now.as_secs(), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let (store, link_id) = (self.store.clone(), entry.access.link_id);
        tokio::spawn(async move {
            if let Err(err) = store.record_link_used(&link_id, now).await {
                tracing::warn!(link_id = %link_id, error = ?err, "could not record a link's use");
            }
        });
    }

    /// From memory, or from the store, unwrapping the link's data key with the token (once per token
    /// and process: memory keeps the result).
    async fn resolve(
        &self,
        token: &BrokerAccessToken,
        now: UnixTime,
    ) -> Result<TokenEntry, ApiError> {
        let hash = token.hash();
        if let Some(entry) = self.memory.token(&hash) {
            if entry.expires_at > now {
                return Ok(entry);
            }
            self.memory.forget_token(&hash);
            return Err(ApiError::RelinkRequired("broker token expired"));
        }
        let looked_up = self.memory.lookup_mark();
        let record = self
            .store
            .find_access_token(&hash, now)
            .await?
            .ok_or(ApiError::RelinkRequired("unknown or revoked broker token"))?;
        let key = match (&record.wrapped_data_key, record.sealing) {
            (Some(wrapped), _) => Some(Arc::new(
                DataKey::unwrap_with(
                    wrapped,
                    token.expose(),
                    &WrapAad::new(&record.link_id, &hash),
                )
                .map_err(|_| ApiError::RelinkRequired("the broker token does not open its link"))?,
            )),
            (None, Sealing::KeyRing) => None,
            (None, Sealing::DataKey) => {
                return Err(ApiError::RelinkRequired(
                    "the broker token holds no key to its link",
                ));
            }
        };
        let access = LinkAccess {
            link_id: record.link_id,
            key,
        };
        let entry = TokenEntry {
            access,
            expires_at: record.expires_at,
            looked_up,
            use_recorded_at: Arc::default(),
        };
        self.memory.remember_token(hash, entry.clone());
        Ok(entry)
    }

    /// Binds an Alexa user to a link in the store, once; a failure only delays the binding.
    async fn bind(&self, user: &AlexaUserId, link_id: LinkId) {
        let user_hash = user.hash();
        if self.memory.is_bound(&user_hash, link_id) {
            return;
        }
        match self
            .store
            .bind_alexa_user(&user_hash, &link_id, UnixTime::now())
            .await
        {
            Ok(()) => self.memory.remember_binding(user_hash, link_id),
            Err(err) => {
                tracing::warn!(link_id = %link_id, error = ?err, "could not bind the alexa user");
            }
        }
    }

    /// The link, from memory when possible; `relink_required` unless it is active.
    pub async fn active_link(&self, access: &LinkAccess) -> Result<Arc<Link>, ApiError> {
        require_active(self.link(access).await?)
    }

    /// The link in any state, from memory when possible.
    pub async fn link(&self, access: &LinkAccess) -> Result<Arc<Link>, ApiError> {
        if let Some(link) = self.memory.link(&access.link_id) {
            return Ok(link);
        }
        self.reload(access).await
    }

    /// Reads the link from the store, replacing what memory held.
    async fn reload(&self, access: &LinkAccess) -> Result<Arc<Link>, ApiError> {
        let link = Arc::new(
            self.store
                .link(&access.link_id, access.key())
                .await?
                .ok_or(ApiError::RelinkRequired("link no longer exists"))?,
        );
        // A link whose tokens did not open for this caller is not kept for the next one.
        if link.tokens.is_some() || link.summary.status != LinkStatus::Active {
            self.memory.remember_link(Arc::clone(&link));
        }
        Ok(link)
    }
}

/// The link if its tokens can be used; `relink_required` (with why) otherwise.
pub(crate) fn require_active(link: Arc<Link>) -> Result<Arc<Link>, ApiError> {
    match link.summary.status {
        LinkStatus::Active if link.tokens.is_some() => Ok(link),
        LinkStatus::Active | LinkStatus::Revoked => Err(ApiError::RelinkRequired("link revoked")),
        LinkStatus::RelinkRequired => Err(ApiError::RelinkRequired(
            "spotify no longer accepts the link's grant",
        )),
    }
}
