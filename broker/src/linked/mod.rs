//! Linked accounts at request time: which link a broker token belongs to, the link's current Spotify
//! tokens, and keeping both fresh without a database round trip per request.

mod refresh;

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;

use crate::domain::{BrokerAccessToken, LinkId, TokenHash, UnixTime};
use crate::error::ApiError;
use crate::spotify::SpotifyAccounts;
use crate::store::{Link, LinkStatus, Store};

/// How long a token → link resolution is trusted before the store is asked again. Revocations on this
/// replica drop entries at once; those on other replicas arrive through the change feed (any change to a
/// link row drops that link's tokens).
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How long a link's state (and opened tokens) is kept in memory.
const LINK_TTL: Duration = Duration::from_secs(60);
/// How often the change feed asks the store which links changed.
pub const CHANGE_POLL: Duration = Duration::from_millis(500);

/// Tuning for [`LinkedAccounts`].
#[derive(Debug, Clone)]
pub struct LinkedSettings {
    /// Refresh this many seconds before Spotify's access token expires.
    pub refresh_margin_s: i64,
    /// How long one replica may hold a link's refresh lease.
    pub refresh_lease_s: i64,
    pub max_cached_tokens: u64,
}

#[derive(Debug, Clone)]
struct TokenEntry {
    link_id: LinkId,
    expires_at: UnixTime,
    /// When the store was asked: a revocation of the link at or after this instant voids the entry.
    looked_up_at: Instant,
}

/// Request-time access to links, with in-memory caches in front of the store.
pub struct LinkedAccounts {
    store: Store,
    accounts: SpotifyAccounts,
    settings: LinkedSettings,
    /// This process's identity as a refresh-lease owner.
    replica_id: String,
    tokens: Cache<TokenHash, TokenEntry>,
    /// Per link, when its cached tokens were last voided; kept as long as a token entry can live.
    token_revocations: Cache<LinkId, Instant>,
    links: Cache<LinkId, Arc<Link>>,
    refresh_locks: Cache<LinkId, Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for LinkedAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedAccounts")
            .field("replica_id", &self.replica_id)
            .finish_non_exhaustive()
    }
}

impl LinkedAccounts {
    pub fn new(store: Store, accounts: SpotifyAccounts, settings: LinkedSettings) -> Self {
        Self {
            tokens: Cache::builder()
                .max_capacity(settings.max_cached_tokens)
                .time_to_live(TOKEN_TTL)
                .build(),
            token_revocations: Cache::builder().time_to_live(TOKEN_TTL).build(),
            links: Cache::builder()
                .max_capacity(settings.max_cached_tokens)
                .time_to_live(LINK_TTL)
                .build(),
            refresh_locks: Cache::builder()
                .max_capacity(settings.max_cached_tokens)
                .time_to_idle(Duration::from_secs(300))
                .build(),
            replica_id: uuid::Uuid::new_v4().to_string(),
            store,
            accounts,
            settings,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The link a broker access token belongs to; `relink_required` for anything not live.
    pub async fn authenticate(&self, token: &BrokerAccessToken) -> Result<LinkId, ApiError> {
        let hash = token.hash();
        let now = UnixTime::now();
        if let Some(entry) = self.tokens.get(&hash).await {
            let revoked_since = self
                .token_revocations
                .get(&entry.link_id)
                .await
                .is_some_and(|revoked_at| revoked_at >= entry.looked_up_at);
            if !revoked_since {
                if entry.expires_at > now {
                    return Ok(entry.link_id);
                }
                self.tokens.invalidate(&hash).await;
                return Err(ApiError::RelinkRequired("broker token expired"));
            }
        }
        let looked_up_at = Instant::now();
        let (link_id, expires_at) = self
            .store
            .find_access_token(&hash, now)
            .await?
            .ok_or(ApiError::RelinkRequired("unknown or revoked broker token"))?;
        let entry = TokenEntry {
            link_id,
            expires_at,
            looked_up_at,
        };
        self.tokens.insert(hash, entry).await;
        Ok(link_id)
    }

    /// The link, from memory when possible; `relink_required` unless it is active.
    pub async fn active_link(&self, link_id: &LinkId) -> Result<Arc<Link>, ApiError> {
        require_active(self.link(link_id).await?)
    }

    /// The link in any state, from memory when possible.
    pub async fn link(&self, link_id: &LinkId) -> Result<Arc<Link>, ApiError> {
        if let Some(link) = self.links.get(link_id).await {
            return Ok(link);
        }
        self.reload(link_id).await
    }

    /// Reads the link from the store, replacing what memory held.
    async fn reload(&self, link_id: &LinkId) -> Result<Arc<Link>, ApiError> {
        let link = Arc::new(
            self.store
                .link(link_id)
                .await?
                .ok_or(ApiError::RelinkRequired("link no longer exists"))?,
        );
        self.links.insert(*link_id, link.clone()).await;
        Ok(link)
    }

    /// Revokes a link (crypto-shredding its Spotify tokens) and forgets it here at once.
    pub async fn revoke(&self, link_id: &LinkId, actor: &str) -> Result<bool, ApiError> {
        let revoked = self
            .store
            .revoke_link(link_id, actor, UnixTime::now())
            .await?;
        self.forget(link_id).await;
        Ok(revoked)
    }

    /// Drops everything memory holds about a link.
    pub async fn forget(&self, link_id: &LinkId) {
        self.links.invalidate(link_id).await;
        self.forget_tokens(*link_id).await;
    }

    /// Voids the broker tokens of a link resolved from memory so far, so their next use asks the store
    /// (after a token or grant revocation). O(1): entries are checked against this mark when read.
    pub async fn forget_tokens(&self, link_id: LinkId) {
        self.token_revocations.insert(link_id, Instant::now()).await;
    }

    /// Drops a link's state if memory holds an older version than `token_version`. Returns whether it did.
    pub async fn on_changed(&self, link_id: &LinkId, token_version: i64) -> bool {
        match self.links.get(link_id).await {
            Some(link) if link.token_version < token_version => {
                self.forget(link_id).await;
                true
            }
            _ => false,
        }
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
