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

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::crypto::{CipherError, KeyRing};

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
            other => Self::Database(other),
        }
    }
}

/// Pool settings for [`Store::connect`].
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
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
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout);
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("pragma journal_mode = wal; pragma busy_timeout = 5000; pragma foreign_keys = on; pragma synchronous = normal")
                        .await
                        .map(|_| ())
                })
            });
        }
        Ok(Self {
            pool: pool_options.connect_lazy_with(options),
            backend,
            keys,
            listen_url: (backend == Backend::Postgres).then(|| SecretString::from(url)),
            process_id: Arc::from(uuid::Uuid::new_v4().to_string()),
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
        migrator.run(&self.pool).await.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Database(sqlx::Error::Migrate(Box::new(other))),
        })
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
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
        })
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
