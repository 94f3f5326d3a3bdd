//! Getting the embedded SQLite store writing again, without a restart, once its file can be written
//! again after it could not be (a disk remounted read-only, a file made read-only).
//!
//! SQLite opens a file it cannot write read-only and keeps it so for the connection's life; it also
//! shares one WAL index per file between all of a process's connections, and one opened read-only
//! makes every connection opened while it lives read-only too. So while the file cannot be written,
//! every connection taken from the pool first checks whether it can be again; from then on (and after
//! any write refused as read-only) every connection opened before is closed instead of reused, and a
//! new connection that still cannot write is closed after its first use, until one can.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, Executor};

/// A connection found unable to write when it opens is closed after its first use: its age cannot be
/// compared with "now" yet (the pool dates it once this check is over), so the mark is set this far
/// ahead.
const OPENING: Duration = Duration::from_millis(50);

/// What the pool of one SQLite store knows about whether its file can be written.
#[derive(Debug)]
pub(super) struct Writability {
    path: PathBuf,
    origin: Instant,
    /// Connections opened before this instant (nanoseconds after `origin`; 0 for none) are closed
    /// rather than handed out or taken back.
    reopen_before_ns: AtomicU64,
    /// A connection was opened while the file could not be written, and it has not been seen
    /// writable since.
    read_only: AtomicBool,
    /// The file can be written again (or a write was refused), and no connection opened since has
    /// shown that it can write: new connections are checked.
    healing: AtomicBool,
}

impl Writability {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            origin: Instant::now(),
            reopen_before_ns: AtomicU64::new(0),
            read_only: AtomicBool::new(false),
            healing: AtomicBool::new(false),
        }
    }

    /// The file named by a `sqlite:` URL, unless the database lives in memory.
    pub(super) fn file_of(url: &str) -> Option<PathBuf> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    /// Whether the file can be opened for writing now (a missing file will be created).
    fn file_writable(&self) -> bool {
        match std::fs::OpenOptions::new().write(true).open(&self.path) {
            Ok(_) => true,
            Err(err) => err.kind() == std::io::ErrorKind::NotFound,
        }
    }

    /// A connection was just opened (its pragmas set). Notes when the file cannot be written; while
    /// healing, checks that this connection can write, and has it closed after its first use if not.
    pub(super) async fn connected(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        if !self.file_writable() {
            if !self.read_only.swap(true, Ordering::AcqRel) {
                tracing::error!(
                    "the sqlite database file cannot be written (read-only file or disk): writes \
                     answer unavailable until it can be written again"
                );
            }
            return Ok(());
        }
        if self.healing.load(Ordering::Acquire) {
            if can_write(conn).await? {
                self.healing.store(false, Ordering::Release);
            } else {
                self.reopen_before(OPENING);
            }
        }
        Ok(())
    }

    /// Whether a pooled connection of `age` may be handed out. After the file could not be written,
    /// this is where it is found writable again: then every connection opened until now is reopened.
    pub(super) fn keep_on_acquire(&self, age: Duration) -> bool {
        if self.read_only.load(Ordering::Acquire) && self.file_writable() {
            self.read_only.store(false, Ordering::Release);
            self.healing.store(true, Ordering::Release);
            self.reopen_before(Duration::ZERO);
            tracing::warn!(
                "the sqlite database file can be written again; reopening the store's connections"
            );
        }
        !self.opened_before_reopen(age)
    }

    /// Whether a connection of `age` coming back from use may stay in the pool.
    pub(super) fn keep_on_release(&self, age: Duration) -> bool {
        !self.opened_before_reopen(age)
    }

    /// A write found its connection read-only: no connection opened until now is used again.
    pub(super) fn write_refused(&self) {
        self.healing.store(true, Ordering::Release);
        self.reopen_before(Duration::ZERO);
        tracing::warn!("the sqlite database refused a write as read-only; reopening connections");
    }

    fn reopen_before(&self, ahead: Duration) {
        let at = self
            .nanos_since_origin(Duration::ZERO)
            .saturating_add(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX));
        self.reopen_before_ns.fetch_max(at, Ordering::AcqRel);
    }

    fn opened_before_reopen(&self, age: Duration) -> bool {
        let reopen_before = self.reopen_before_ns.load(Ordering::Acquire);
        reopen_before != 0 && self.nanos_since_origin(age) <= reopen_before
    }

    /// Nanoseconds from `origin` to `ago` before now, at least 1 (0 means "never").
    fn nanos_since_origin(&self, ago: Duration) -> u64 {
        let since = self.origin.elapsed().saturating_sub(ago);
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX).max(1)
    }
}

/// Whether SQLite answered that the connection cannot write (`SQLITE_READONLY`, 8, and its extended
/// codes): opened read-only, or sharing a read-only WAL index.
pub(super) fn is_read_only(err: &sqlx::Error) -> bool {
    primary_code(err) == Some(8)
}

fn primary_code(err: &sqlx::Error) -> Option<i64> {
    match err {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// Whether `conn` can start a write, without waiting for another writer: SQLite refuses a read-only
/// connection before it looks at the lock, so "busy" means it can.
async fn can_write(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    conn.execute("pragma busy_timeout = 0").await?;
    let writable = match conn.execute("begin immediate").await {
        Ok(_) => {
            conn.execute("rollback").await?;
            Ok(true)
        }
        Err(err) if is_read_only(&err) => Ok(false),
        Err(err) if primary_code(&err) == Some(5) => Ok(true),
        Err(err) => Err(err),
    };
    conn.execute("pragma busy_timeout = 5000").await?;
    writable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_comes_from_the_url() {
        assert_eq!(
            Writability::file_of("sqlite:///var/lib/broker.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/broker.db"))
        );
        assert_eq!(
            Writability::file_of("sqlite://broker.db"),
            Some(PathBuf::from("broker.db"))
        );
        assert_eq!(
            Writability::file_of("sqlite:broker.db?mode=rwc"),
            Some(PathBuf::from("broker.db"))
        );
        assert_eq!(Writability::file_of("sqlite::memory:"), None);
        assert_eq!(Writability::file_of("postgres://x"), None);
    }

    #[test]
    fn connections_opened_before_a_refused_write_are_not_reused() {
        let writability = Writability::new(std::env::temp_dir().join("never-created.db"));
        assert!(writability.keep_on_acquire(Duration::from_secs(1)));
        std::thread::sleep(Duration::from_millis(2));
        writability.write_refused();
        assert!(!writability.keep_on_acquire(Duration::from_millis(1)));
        assert!(!writability.keep_on_release(Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(2));
        // Opened after the refusal.
        assert!(writability.keep_on_release(Duration::from_micros(10)));
    }
}
