//! The hasher of the maps a request reads (token and link memory, forget marks, fetches in flight):
//! foldhash, seeded at random per process as hashbrown's default is. std's SipHash cost more per
//! lookup than the lookup itself; every key here is either a digest or chosen by an authenticated
//! caller.

/// Builds the hasher of each hot map.
pub type FastHash = foldhash::fast::RandomState;

/// A bounded moka cache hashed with [`FastHash`]; build it with `build_with_hasher(FastHash::default())`.
pub type MemoryCache<K, V> = moka::sync::Cache<K, V, FastHash>;
