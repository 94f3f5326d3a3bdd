//! A fresh database per test (a Postgres database named by a UUID, or a SQLite file in a fresh directory),
//! so tests never see each other's rows, and direct access to it for checks the HTTP API cannot make.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use broker::crypto::KeyRing;
use broker::domain::KeyId;
use broker::store::{PoolSettings, Store};
use secrecy::SecretString;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Connection, Executor, PgConnection};

/// The Postgres server the suite uses unless `TEST_DATABASE_URL` names another.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Which store backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database that exists for one test and is dropped with it.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What `database.url` should say.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Postgres { server_url: String, name: String },
    Sqlite { dir: PathBuf },
}

fn postgres_server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

impl TestDatabase {
    /// Creates an empty database (no migrations applied). Panics with a clear message when Postgres cannot
    /// be reached: the suite never silently skips its production backend.
    pub async fn create(backend: Backend) -> Self {
        let name = uuid::Uuid::new_v4().to_string();
        match backend {
            Backend::Postgres => {
                let server_url = postgres_server_url();
                let mut conn = connect_admin(&server_url).await;
                conn.execute(format!(r#"create database "{name}""#).as_str())
                    .await
                    .unwrap_or_else(|err| panic!("creating test database {name}: {err}"));
                let _ = conn.close().await;
                let mut url = url::Url::parse(&server_url)
                    .unwrap_or_else(|err| panic!("TEST_DATABASE_URL is not a url: {err}"));
                url.set_path(&format!("/{name}"));
                Self {
                    backend,
                    url: url.to_string(),
                    cleanup: Cleanup::Postgres { server_url, name },
                }
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("broker-e2e-{name}"));
                std::fs::create_dir_all(&dir)
                    .unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
                Self {
                    backend,
                    url: format!("sqlite://{}/broker.db", dir.display()),
                    cleanup: Cleanup::Sqlite { dir },
                }
            }
        }
    }

    /// A copy of the database as a thief would get it: `pg_dump` restored into a new database, or the
    /// SQLite file with its WAL, copied while the broker runs.
    pub async fn backup(&self) -> Self {
        let copy = Self::create(self.backend).await;
        match (&self.cleanup, &copy.cleanup) {
            (Cleanup::Sqlite { dir: from }, Cleanup::Sqlite { dir: to }) => {
                for file in ["broker.db", "broker.db-wal", "broker.db-shm"] {
                    if from.join(file).exists() {
                        std::fs::copy(from.join(file), to.join(file))
                            .unwrap_or_else(|err| panic!("copying {file}: {err}"));
                    }
                }
            }
            _ => {
                let dump = std::process::Command::new("pg_dump")
                    .args(["--no-owner", "--no-privileges", &self.url])
                    .output()
                    .unwrap_or_else(|err| {
                        panic!("running pg_dump (install postgresql-client): {err}")
                    });
                assert!(
                    dump.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&dump.stderr)
                );
                let mut restore = std::process::Command::new("psql")
                    .args(["-q", "-v", "ON_ERROR_STOP=1", &copy.url])
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap_or_else(|err| panic!("running psql: {err}"));
                if let Some(mut stdin) = restore.stdin.take() {
                    use std::io::Write;
                    stdin
                        .write_all(&dump.stdout)
                        .expect("feeding the dump to psql");
                }
                assert!(
                    restore.wait().expect("psql ran").success(),
                    "restoring the dump failed"
                );
            }
        }
        copy
    }

    /// A plain pool on the database, for reading and tampering with rows directly.
    pub async fn raw_pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .unwrap_or_else(|err| panic!("connecting to the test database {}: {err}", self.url))
    }
}

async fn connect_admin(server_url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(server_url)
        .unwrap_or_else(|err| panic!("TEST_DATABASE_URL {server_url} does not parse: {err}"))
        .disable_statement_logging();
    match tokio::time::timeout(Duration::from_secs(10), options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(err)) => panic!(
            "the end-to-end tests need a Postgres server at {server_url} (set TEST_DATABASE_URL to \
             another server, or start one, e.g. `.ci/run` does): {err}"
        ),
        Err(_) => panic!("the Postgres server at {server_url} did not answer within 10 s"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { server_url, name } => {
                // Runs on its own thread and runtime: drop may happen inside or outside a runtime.
                let (server_url, name) = (server_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        let options = PgConnectOptions::from_str(&server_url)
                            .ok()?
                            .disable_statement_logging();
                        let mut conn = options.connect().await.ok()?;
                        let _ = conn
                            .execute(
                                format!(r#"drop database if exists "{name}" with (force)"#)
                                    .as_str(),
                            )
                            .await;
                        conn.close().await.ok()
                    });
                })
                .join();
            }
        }
    }
}

/// The pool settings the suite gives every store (small: many stores run at once).
pub fn pool_settings() -> PoolSettings {
    PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Some(Duration::from_secs(10)),
    }
}

/// A key ring from `(key id, base64 key)` pairs.
pub fn test_key_ring(keys: &[(&str, &str)], active: &str) -> Arc<KeyRing> {
    let keys = keys.iter().map(|(id, key)| {
        (
            KeyId::parse(id).expect("valid key id"),
            SecretString::from((*key).to_owned()),
        )
    });
    Arc::new(KeyRing::new(keys, KeyId::parse(active).expect("valid key id")).expect("key ring"))
}

/// A store on `url` under `keys` (lazy: connects on first use).
pub fn open_store(url: &str, keys: Arc<KeyRing>) -> Store {
    Store::connect_lazy(&SecretString::from(url.to_owned()), &pool_settings(), keys)
        .expect("opening the store")
}
