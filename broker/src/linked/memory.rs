//! What this replica remembers about links between requests: which link a broker token belongs to, each
//! link's state with its opened Spotify tokens, and which Alexa users are already bound, so that a
//! request costs no database round trip. Link changes void it through [`ReplicaMemory`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::LinkAccess;
use crate::domain::{LinkId, TokenHash, UnixTime};
use crate::lifecycle::ReplicaMemory;
use crate::store::{ChangeKind, Link};

/// How long a token → link resolution is trusted before the store is asked again. Changes arrive sooner
/// through the change feed; this bounds the damage if the feed stalls.
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How long a link's state (and opened tokens) is kept in memory.
const LINK_TTL: Duration = Duration::from_secs(60);
/// How long an Alexa user's binding is remembered as written.
const BINDING_TTL: Duration = Duration::from_secs(600);

/// A broker access token resolved from the store.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub access: LinkAccess,
    pub expires_at: UnixTime,
    /// When the store was asked: a revocation of the link's tokens since voids it.
    pub looked_up: LookupMark,
    /// When this replica last recorded the token's use (`last_used_at`), in Unix seconds; 0 for never.
    pub use_recorded_at: Arc<AtomicI64>,
}

/// The moment a token was looked up in the store, as the memory counts time: the instant, and how many
/// times any link's tokens had been voided by then.
#[derive(Debug, Clone, Copy)]
pub struct LookupMark {
    at: Instant,
    voids: u64,
}

/// The replica's memory of tokens, links and bindings, bounded by `cache.max_links`.
pub struct TokenMemory {
    tokens: Cache<TokenHash, TokenEntry>,
    /// Per link, when its broker tokens were last voided; kept as long as a token entry can live.
    token_revocations: Cache<LinkId, Instant>,
    /// How many times any link's tokens were voided: while it is what it was when a token was looked up,
    /// nothing was voided since, and reading a token costs no look at `token_revocations`.
    voids: AtomicU64,
    links: Cache<LinkId, Arc<Link>>,
    /// Alexa user hash → the link it is bound to in the store.
    bindings: Cache<TokenHash, LinkId>,
}

impl std::fmt::Debug for TokenMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMemory")
            .field("tokens", &self.tokens.entry_count())
            .field("links", &self.links.entry_count())
            .finish()
    }
}

impl TokenMemory {
    pub fn new(max_links: u64) -> Self {
        Self {
            tokens: Cache::builder()
                .max_capacity(max_links)
                .time_to_live(TOKEN_TTL)
                .build(),
            token_revocations: Cache::builder().time_to_live(TOKEN_TTL).build(),
            voids: AtomicU64::new(0),
            links: Cache::builder()
                .max_capacity(max_links)
                .time_to_live(LINK_TTL)
                .build(),
            bindings: Cache::builder()
                .max_capacity(max_links)
                .time_to_live(BINDING_TTL)
                .build(),
        }
    }

    /// Taken just before a token is looked up in the store: a void from then on voids what was found.
    pub fn lookup_mark(&self) -> LookupMark {
        LookupMark {
            voids: self.voids.load(Ordering::Acquire),
            at: Instant::now(),
        }
    }

    /// The link a token resolved to, unless its link's tokens were voided since.
    pub fn token(&self, hash: &TokenHash) -> Option<TokenEntry> {
        let entry = self.tokens.get(hash)?;
        if self.voids.load(Ordering::Acquire) == entry.looked_up.voids {
            return Some(entry);
        }
        let voided = self
            .token_revocations
            .get(&entry.access.link_id)
            .is_some_and(|voided_at| voided_at >= entry.looked_up.at);
        (!voided).then_some(entry)
    }

    pub fn remember_token(&self, hash: TokenHash, entry: TokenEntry) {
        self.tokens.insert(hash, entry);
    }

    pub fn forget_token(&self, hash: &TokenHash) {
        self.tokens.invalidate(hash);
    }

    pub fn link(&self, link_id: &LinkId) -> Option<Arc<Link>> {
        self.links.get(link_id)
    }

    pub fn remember_link(&self, link: Arc<Link>) {
        self.links.insert(link.summary.link_id, link);
    }

    /// Whether the store already binds this Alexa user to this link.
    pub fn is_bound(&self, user_hash: &TokenHash, link_id: LinkId) -> bool {
        self.bindings.get(user_hash) == Some(link_id)
    }

    pub fn remember_binding(&self, user_hash: TokenHash, link_id: LinkId) {
        self.bindings.insert(user_hash, link_id);
    }

    /// Drops a link's state (and opened tokens), so the next use reads the store.
    pub fn forget_link_state(&self, link_id: &LinkId) {
        self.links.invalidate(link_id);
    }

    /// Voids every broker token of a link resolved so far, so their next use asks the store. O(1):
    /// entries are checked against this mark when read.
    pub fn void_tokens(&self, link_id: LinkId) {
        self.token_revocations.insert(link_id, Instant::now());
        // After the mark: whoever sees the new count finds the mark.
        self.voids.fetch_add(1, Ordering::AcqRel);
    }
}

impl ReplicaMemory for TokenMemory {
    fn forget(&self, link_id: LinkId, kind: ChangeKind) {
        match kind {
            ChangeKind::PlayerChanged => {}
            ChangeKind::TokensRefreshed => self.forget_link_state(&link_id),
            ChangeKind::Linked
            | ChangeKind::Relinked
            | ChangeKind::Revoked
            | ChangeKind::RelinkRequired
            | ChangeKind::Restored
            | ChangeKind::BrokerTokensRevoked => {
                self.forget_link_state(&link_id);
                self.void_tokens(link_id);
                if kind == ChangeKind::Revoked {
                    // The store dropped the link's bindings; revokes are rare, so forget them all.
                    self.bindings.invalidate_all();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: u8) -> LinkId {
        LinkId::parse(&format!("00000000-0000-4000-8000-0000000000{n:02}")).unwrap()
    }

    fn remember(memory: &TokenMemory, token: &str, link_id: LinkId, looked_up: LookupMark) {
        memory.remember_token(
            TokenHash::of(token),
            TokenEntry {
                access: LinkAccess { link_id, key: None },
                expires_at: UnixTime::from_secs(i64::MAX),
                looked_up,
                use_recorded_at: Arc::default(),
            },
        );
    }

    #[test]
    fn a_void_reaches_only_its_links_tokens() {
        let memory = TokenMemory::new(100);
        remember(&memory, "a", link(1), memory.lookup_mark());
        remember(&memory, "b", link(2), memory.lookup_mark());
        memory.void_tokens(link(1));
        assert!(memory.token(&TokenHash::of("a")).is_none());
        assert!(
            memory.token(&TokenHash::of("b")).is_some(),
            "another link's void leaves this token alone"
        );
        remember(&memory, "a", link(1), memory.lookup_mark());
        assert!(
            memory.token(&TokenHash::of("a")).is_some(),
            "looked up again after the void"
        );
    }

    #[test]
    fn a_void_during_the_lookup_voids_what_it_found() {
        let memory = TokenMemory::new(100);
        let mark = memory.lookup_mark();
        std::thread::sleep(Duration::from_millis(2));
        memory.void_tokens(link(1));
        remember(&memory, "a", link(1), mark);
        assert!(memory.token(&TokenHash::of("a")).is_none());
    }
}
