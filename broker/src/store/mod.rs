//! The link store: the only module that speaks SQL, over Postgres (production) or an embedded SQLite file.
//!
//! One set of queries serves both backends through sqlx's `Any` driver: timestamps are integer seconds,
//! identifiers and hashes are text, sealed tokens are bytes, and placeholders are `$n` (which SQLite accepts).

mod admin;
mod app;
mod audit;
mod changes;
mod key_ring;
mod links;
mod oauth;
mod pause;
mod refresh;
mod sealed;
mod writable;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::crypto::{CipherError, KeyRing};
use writable::Writability;

pub use admin::{LinkDetails, LinkFilter, SPOTIFY_GRANT_LIFETIME_S};
pub use app::{APP_REFUSED, AppIncidentRecord, AppRefusal};
pub use audit::{AuditCursor, AuditEvent, AuditFilter, AuditKind};
pub use changes::{ChangeKind, ChangeListener, LinkChange};
pub use key_ring::{KeyUsage, RewrapReport};
pub use links::{
    Actor, Link, LinkMove, LinkStatus, LinkSummary, NewLink, Restoration, Revocation, Sealing,
    SpotifyTokens,
};
pub use oauth::{
    AccessTokenRecord, CodeRedemption, Expiries, Issuance, IssueFrom, IssuedTokens,
    NewAuthorizationCode, NewTokenPair, PendingAuthorization, RedeemedCode, RefreshTokenRecord,
    TokenLifetimes,
};
pub use refresh::{RefreshLease, RefreshedTokens};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What went wrong in the store, split by what a caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (answers `unavailable`, 503).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A stored ciphertext does not open: wrong key ring, or tampering.
    #[error("stored token does not open")]
    Cipher(#[from] CipherError),
    /// Anything else the database said.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A row holds a value that does not parse.
    #[error("corrupt row: {0}")]
    Corrupt(&'static str),
    /// The database URL is not one the store understands.
    #[error("database.url: {0}")]
    BadUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => {
                Self::Unavailable(err)
            }
            other => Self::Database(other),
        }
    }
}

/// Whether a database error code says "not now" rather than "never": the server is shutting down or
/// starting, out of connections, a statement ran past `database.statement_timeout_ms`, or the SQLite
/// file is locked, full, read-only or failing. Retrying later can succeed; the client gets `unavailable`.
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    // Postgres SQLSTATEs: connection exceptions, too many connections, query canceled (statement
    // timeout), lock not available, admin/crash shutdown, cannot connect now, read-only transaction.
    if code.starts_with("08")
        || matches!(
            code,
            "53300" | "57014" | "55P03" | "57P01" | "57P02" | "57P03" | "25006" | "53100"
        )
    {
        return true;
    }
    // SQLite (extended) result codes, by their primary code: BUSY 5, LOCKED 6, READONLY 8, IOERR 10,
    // FULL 13, CANTOPEN 14.
    code.parse::<i64>()
        .is_ok_and(|extended| matches!(extended & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
}

/// A Postgres connection that rested in the pool this long is pinged before it is handed out (sqlx
/// pinged it when it came back; a server restart since would otherwise fail the next statement).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Pool settings for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Postgres: the longest one statement may run (lock waits included) before the server cancels it;
    /// `None` for no limit. SQLite waits at most its busy timeout (5 s) for the writer lock.
    pub statement_timeout: Option<Duration>,
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    keys: Arc<KeyRing>,
    /// The Postgres URL, kept for the change listener's own connection.
    listen_url: Option<SecretString>,
    /// This process, as the origin of the changes it records.
    process_id: Arc<str>,
    /// SQLite: whether the file can be written, so the pool gets writing again when it can.
    writability: Option<Arc<Writability>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Builds a lazy pool: nothing connects until the first query, so building never blocks on the database.
    pub fn connect_lazy(
        url: &SecretString,
        pool: &PoolSettings,
        keys: Arc<KeyRing>,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let (backend, url) = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            (Backend::Postgres, raw.to_owned())
        } else if raw.starts_with("sqlite:") {
            (Backend::Sqlite, with_sqlite_defaults(raw))
        } else {
            return Err(StoreError::BadUrl(
                "must start with postgres:// or sqlite://".to_owned(),
            ));
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|_| StoreError::BadUrl("could not be parsed".to_owned()))?;
        let writability = match backend {
            Backend::Sqlite => {
                Writability::file_of(&url).map(|file| Arc::new(Writability::new(file)))
            }
            Backend::Postgres => None,
        };
        let acquiring = writability.clone();
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            // sqlx pings every connection it takes back (a round trip to the server); pinging it again
            // when it is handed out made a third round trip per statement: without it a refresh grant
            // costs about 15 % less CPU, broker and Postgres together (issue 10). On Postgres only a
            // connection that rested long enough for the server to have dropped it is pinged;
            // SQLite's ping is in-process and cheap.
            .test_before_acquire(backend == Backend::Sqlite)
            // SQLite rolls a transaction back by itself when the disk is full or an I/O error strikes; sqlx
            // then still counts it as open, its rollback fails, and every later `begin immediate` on that
            // connection fails too. Such a connection (checked after the idle ping, so any queued
            // rollback has run) is closed instead of being handed out again; so is a SQLite connection
            // opened while its file could not be written, once it can be (see `writable`).
            .before_acquire(move |conn, meta| {
                let writable = acquiring
                    .as_ref()
                    .is_none_or(|writability| writability.keep_on_acquire(meta.age));
                let ping = backend == Backend::Postgres && meta.idle_for >= PING_AFTER_IDLE;
                Box::pin(async move {
                    let alive = !ping || sqlx::Connection::ping(conn).await.is_ok();
                    Ok(alive && writable && !sqlx::Connection::is_in_transaction(conn))
                })
            });
        if let (Backend::Postgres, Some(limit)) = (backend, pool.statement_timeout) {
            let set = format!("set statement_timeout = {}", limit.as_millis().max(1));
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move { conn.execute(set.as_str()).await.map(|_| ()) })
            });
        }
        if backend == Backend::Sqlite {
            let connected = writability.clone();
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let connected = connected.clone();
                Box::pin(async move {
                    conn.execute("pragma journal_mode = wal; pragma busy_timeout = 5000; pragma foreign_keys = on; pragma synchronous = normal")
                        .await?;
                    match connected {
                        Some(writability) => writability.connected(conn).await,
                        None => Ok(()),
                    }
                })
            });
        }
        if let Some(writability) = writability.clone() {
            pool_options = pool_options.after_release(move |_conn, meta| {
                let keep = writability.keep_on_release(meta.age);
                Box::pin(async move { Ok(keep) })
            });
        }
        Ok(Self {
            pool: pool_options.connect_lazy_with(options),
            backend,
            keys,
            listen_url: (backend == Backend::Postgres).then(|| SecretString::from(url)),
            process_id: Arc::from(uuid::Uuid::new_v4().to_string()),
            writability,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        // Migrations may run long (and wait on another replica's migration lock): on a connection of
        // their own without the statement timeout, closed afterwards rather than returned to the pool.
        let mut conn = self.pool.acquire().await?.detach();
        if self.backend == Backend::Postgres {
            conn.execute("set statement_timeout = 0").await?;
        }
        let migrated = migrator.run(&mut conn).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Database(sqlx::Error::Migrate(Box::new(other))),
        });
        let _ = sqlx::Connection::close(conn).await;
        migrated
    }

    /// One round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.keys
    }

    fn process_id(&self) -> &str {
        &self.process_id
    }

    fn listen_url(&self) -> Option<&SecretString> {
        self.listen_url.as_ref()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. SQLite takes its one writer lock at the start (`begin
    /// immediate`), so concurrent writers queue on the busy timeout instead of failing when a read
    /// lock cannot be upgraded.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Postgres => self.pool.begin().await?,
            Backend::Sqlite => self.begin_sqlite_write().await?,
        })
    }

    /// `begin immediate`; when the connection cannot write, again on others, each attempt closing one
    /// connection opened before (see `writable`), in case the file can be written again.
    async fn begin_sqlite_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let attempts = self.pool.options().get_max_connections() + 2;
        let mut attempt = 1;
        loop {
            match self.pool.begin_with("begin immediate").await {
                Err(err) if writable::is_read_only(&err) && attempt < attempts => {
                    if let Some(writability) = &self.writability {
                        writability.write_refused();
                    }
                    attempt += 1;
                }
                begun => return begun,
            }
        }
    }

    /// Locks a link's row for the rest of the transaction and reads its status. Lock order, the same
    /// everywhere so that writers cannot deadlock: the link row first, then its broker tokens and codes.
    /// SQLite needs no row lock: a [`Store::begin_write`] transaction already excludes other writers.
    pub(crate) async fn lock_link(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        link_id: &crate::domain::LinkId,
    ) -> Result<Option<LinkStatus>, StoreError> {
        let sql = match self.backend {
            Backend::Postgres => "select status from link where link_id = $1 for update",
            Backend::Sqlite => "select status from link where link_id = $1",
        };
        let status: Option<String> = sqlx::query_scalar(sql)
            .bind(link_id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        status.as_deref().map(LinkStatus::parse).transpose()
    }
}

/// Creates the SQLite file when missing.
fn with_sqlite_defaults(raw: &str) -> String {
    if raw.contains("mode=") || raw.contains(":memory:") {
        raw.to_owned()
    } else if raw.contains('?') {
        format!("{raw}&mode=rwc")
    } else {
        format!("{raw}?mode=rwc")
    }
}
