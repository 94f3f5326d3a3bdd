//! What this replica remembers about links between requests: which link a broker token belongs to, each
//! link's state with its opened Spotify tokens, which Alexa users are already bound, and the refresh tokens
//! it issued, so that a request costs no database round trip (and a refresh grant one instead of two).
//! Link changes void it through [`ReplicaMemory`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::LinkAccess;
use crate::domain::{LinkId, TokenHash, UnixTime};
use crate::fast_hash::{FastHash, MemoryCache as Cache};
use crate::lifecycle::ReplicaMemory;
use crate::store::{ChangeKind, Link};

/// How long a token → link resolution is trusted before the store is asked again. Changes arrive sooner
/// through the change feed; this bounds the damage if the feed stalls.
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How long a link's state (and opened tokens) is kept in memory.
const LINK_TTL: Duration = Duration::from_secs(60);
/// How long an Alexa user's binding is remembered as written.
const BINDING_TTL: Duration = Duration::from_secs(600);
/// How long a refresh token this replica issued is remembered: longer than Alexa waits between refresh
/// grants (the access token's life, an hour by default).
const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(2 * 3600);

/// A refresh token this replica issued: its link, the link's data key as stored for it (wrapped: only the
/// token itself opens it, so this memory opens no link, as the database opens none), and the token's end.
/// It spares the next grant the lookup; the grant's statement still checks the token in the store (live,
/// with this end, on a link not revoked), so a stale entry can only cost that lookup after all.
#[derive(Debug, Clone)]
pub struct IssuedRefreshToken {
    pub link_id: LinkId,
    pub wrapped_key: Arc<[u8]>,
    pub expires_at: Option<UnixTime>,
    looked_up: LookupMark,
}

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
    refresh_tokens: Cache<TokenHash, IssuedRefreshToken>,
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
            tokens: moka::sync::Cache::builder()
                .max_capacity(max_links)
                .time_to_live(TOKEN_TTL)
                .build_with_hasher(FastHash::default()),
            token_revocations: moka::sync::Cache::builder()
                .time_to_live(TOKEN_TTL)
                .build_with_hasher(FastHash::default()),
            voids: AtomicU64::new(0),
            links: moka::sync::Cache::builder()
                .max_capacity(max_links)
                .time_to_live(LINK_TTL)
                .build_with_hasher(FastHash::default()),
            bindings: moka::sync::Cache::builder()
                .max_capacity(max_links)
                .time_to_live(BINDING_TTL)
                .build_with_hasher(FastHash::default()),
            // A quarter of the links: a miss only costs the grant its lookup, and the bound keeps what
            // `cache.max_links` promises about memory (about 0.4 KiB an entry, moka's bookkeeping included).
            refresh_tokens: moka::sync::Cache::builder()
                .max_capacity((max_links / 4).max(1))
                .time_to_live(REFRESH_TOKEN_TTL)
                .build_with_hasher(FastHash::default()),
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
        (!self.voided_since(&entry.access.link_id, entry.looked_up)).then_some(entry)
    }

    fn voided_since(&self, link_id: &LinkId, mark: LookupMark) -> bool {
        self.voids.load(Ordering::Acquire) != mark.voids
            && self
                .token_revocations
                .get(link_id)
                .is_some_and(|voided_at| voided_at >= mark.at)
    }

    /// Remembers a refresh token just issued (`mark` taken before it was stored) for the next grant.
    pub fn remember_refresh_token(
        &self,
        hash: TokenHash,
        link_id: LinkId,
        wrapped_key: Arc<[u8]>,
        expires_at: Option<UnixTime>,
        mark: LookupMark,
    ) {
        self.refresh_tokens.insert(
            hash,
            IssuedRefreshToken {
                link_id,
                wrapped_key,
                expires_at,
                looked_up: mark,
            },
        );
    }

    /// A refresh token this replica issued, unless its link's tokens were voided since. Taken out: a
    /// token is rotated once, and whatever its grant decides, the next lookup asks the store.
    pub fn take_refresh_token(&self, hash: &TokenHash) -> Option<IssuedRefreshToken> {
        let entry = self.refresh_tokens.remove(hash)?;
        (!self.voided_since(&entry.link_id, entry.looked_up)).then_some(entry)
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
    fn an_issued_refresh_token_is_taken_once_and_voided_with_its_link() {
        let memory = TokenMemory::new(100);
        let wrapped: Arc<[u8]> = Arc::from(&b"wrapped"[..]);
        let end = Some(UnixTime::from_secs(2_000_000_000));
        for token in ["r1", "r2"] {
            memory.remember_refresh_token(
                TokenHash::of(token),
                link(1),
                Arc::clone(&wrapped),
                end,
                memory.lookup_mark(),
            );
        }
        let taken = memory.take_refresh_token(&TokenHash::of("r1")).unwrap();
        assert_eq!((taken.link_id, taken.expires_at), (link(1), end));
        assert!(
            memory.take_refresh_token(&TokenHash::of("r1")).is_none(),
            "taken once"
        );
        memory.void_tokens(link(1));
        assert!(
            memory.take_refresh_token(&TokenHash::of("r2")).is_none(),
            "a void of its link reaches it"
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
