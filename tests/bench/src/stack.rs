//! The system under test, started inside this process: the sandbox Spotify, the broker on a fresh SQLite
//! file or Postgres database, and (with the `skill` feature) the skill, all on free loopback ports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use broker::config::Settings;
use broker::startup::{Application, Migrations};
use spotify_sandbox::{RunningSandbox, SandboxConfig, demo};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tokio::task::JoinHandle;

/// Alexa's client id at the broker.
pub const ALEXA_CLIENT_ID: &str = "bench-alexa";
/// Alexa's redirect URI (only ever seen in a `Location` header, never called).
pub const ALEXA_REDIRECT_URI: &str = "https://pitangui.amazon.com/api/skill/link/MBENCH0000";

/// Where the broker keeps its rows.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in a fresh temporary directory.
    Sqlite,
    /// A fresh database on this Postgres server (`postgres://user@127.0.0.1:5432`).
    Postgres { server_url: String },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub backend: Backend,
    /// Sandbox users the scenarios link and use.
    pub users: usize,
    /// Further sandbox users, each linked once by the link-flow scenario.
    pub link_users: usize,
    pub sandbox_workers: usize,
}

/// The running system under test.
#[derive(Debug)]
pub struct Stack {
    pub sandbox: RunningSandbox,
    pub broker_url: String,
    pub service_token: String,
    pub alexa_client_secret: String,
    pub users: Vec<String>,
    pub link_users: Vec<String>,
    database: Database,
    broker: JoinHandle<std::io::Result<()>>,
}

#[derive(Debug)]
enum Database {
    Sqlite { dir: PathBuf },
    Postgres { server_url: String, name: String },
}

impl Database {
    async fn create(backend: &Backend) -> anyhow::Result<(Self, String)> {
        let name = format!("broker_bench_{}", uuid::Uuid::new_v4().simple());
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let url = format!("sqlite://{}/broker.db", dir.display());
                Ok((Self::Sqlite { dir }, url))
            }
            Backend::Postgres { server_url } => {
                let mut conn = connect_postgres(server_url).await?;
                conn.execute(format!(r#"create database "{name}""#).as_str())
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                conn.close().await.context("closing the admin connection")?;
                let mut url = url::Url::parse(server_url).context("--postgres-url")?;
                url.set_path(&format!("/{name}"));
                Ok((
                    Self::Postgres {
                        server_url: server_url.clone(),
                        name,
                    },
                    url.to_string(),
                ))
            }
        }
    }

    async fn remove(self) -> anyhow::Result<()> {
        match self {
            Self::Sqlite { dir } => {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
            }
            Self::Postgres { server_url, name } => {
                let mut conn = connect_postgres(&server_url).await?;
                conn.execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str())
                    .await
                    .with_context(|| format!("dropping database {name}"))?;
                conn.close().await.context("closing the admin connection")
            }
        }
    }
}

async fn connect_postgres(server_url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(server_url)
        .with_context(|| format!("--postgres-url {server_url} does not parse"))?
        .disable_statement_logging();
    tokio::time::timeout(Duration::from_secs(10), options.connect())
        .await
        .with_context(|| format!("postgres at {server_url} did not answer within 10 s"))?
        .with_context(|| format!("connecting to postgres at {server_url}"))
}

impl Stack {
    /// Starts the sandbox with the bench's users, then the broker pointed at it.
    pub async fn start(options: &StackOptions) -> anyhow::Result<Self> {
        let users: Vec<String> = (0..options.users)
            .map(|i| format!("bench-user-{i}"))
            .collect();
        let link_users: Vec<String> = (0..options.link_users)
            .map(|i| format!("bench-link-{i}"))
            .collect();
        let seeds = users
            .iter()
            .chain(&link_users)
            .map(|id| demo::user(id))
            .collect();
        let sandbox = spotify_sandbox::spawn(
            SandboxConfig {
                workers: options.sandbox_workers,
                ..SandboxConfig::with_users(seeds)
            },
            "127.0.0.1:0",
        )
        .await
        .context("starting the sandbox spotify")?;

        let (database, database_url) = Database::create(&options.backend).await?;
        let service_token = format!("bench-svc-{}", uuid::Uuid::new_v4().simple());
        let alexa_client_secret = format!("bench-alexa-secret-{}", uuid::Uuid::new_v4().simple());
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
        let env: HashMap<String, String> = [
            ("SERVER__BIND", "127.0.0.1:0".to_owned()),
            ("DATABASE__URL", database_url),
            ("SPOTIFY__CLIENT_ID", sandbox.client_id.clone()),
            ("SPOTIFY__CLIENT_SECRET", sandbox.client_secret.clone()),
            ("SPOTIFY__ACCOUNTS_URL", sandbox.base_url.clone()),
            ("SPOTIFY__API_URL", sandbox.base_url.clone()),
            ("ALEXA__CLIENT_ID", ALEXA_CLIENT_ID.to_owned()),
            ("ALEXA__CLIENT_SECRET", alexa_client_secret.clone()),
            ("ALEXA__REDIRECT_URIS", ALEXA_REDIRECT_URI.to_owned()),
            ("CRYPTO__KEYS__K1", key),
            ("CRYPTO__ACTIVE_KEY_ID", "k1".to_owned()),
            ("AUTH__SERVICE_TOKENS", service_token.clone()),
            (
                "AUTH__ADMIN_TOKENS",
                format!("bench-admin-{}", uuid::Uuid::new_v4().simple()),
            ),
            // The bench links every user from one address, far past the production caps.
            (
                "OAUTH__AUTHORIZE_PER_MINUTE_PER_ADDRESS",
                "1000000".to_owned(),
            ),
            (
                "OAUTH__AUTHORIZE_PER_MINUTE_PER_CLIENT",
                "1000000".to_owned(),
            ),
            ("LOG__LEVEL", "warn".to_owned()),
            ("LOG__FORMAT", "pretty".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("BROKER__{key}"), value))
        .collect();
        let settings = Settings::load_with_env(
            None,
            config::Environment::with_prefix("BROKER").source(Some(env)),
        )
        .context("broker settings")?;
        let app = Application::build(settings, Migrations::Apply)
            .await
            .context("building the broker")?;
        let broker_url = format!("http://127.0.0.1:{}", app.port());
        let broker = tokio::spawn(app.run_until_stopped());
        Ok(Self {
            sandbox,
            broker_url,
            service_token,
            alexa_client_secret,
            users,
            link_users,
            database,
            broker,
        })
    }

    /// Stops the servers and removes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.broker.abort();
        let _ = self.broker.await;
        self.sandbox.stop().await.context("stopping the sandbox")?;
        self.database.remove().await
    }
}

/// The skill, pointed at the broker, with signature checks off; returns its base URL.
#[cfg(feature = "skill")]
pub fn start_skill(
    broker_url: &str,
    service_token: &str,
    skill_id: &str,
) -> anyhow::Result<(String, JoinHandle<std::io::Result<()>>)> {
    let env = [
        ("SKILL__SERVER__BIND", "127.0.0.1:0"),
        ("SKILL__ALEXA__SKILL_ID", skill_id),
        ("SKILL__ALEXA__VERIFY_SIGNATURES", "false"),
        ("SKILL__BROKER__URL", broker_url),
        ("SKILL__BROKER__SERVICE_TOKEN", service_token),
        ("SKILL__LOG__FORMAT", "pretty"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings =
        skill::configuration::Settings::load_from(None, env).context("skill settings")?;
    let app = skill::startup::Application::build(settings).context("building the skill")?;
    let url = format!("http://127.0.0.1:{}", app.port());
    Ok((url, tokio::spawn(app.run_until_stopped())))
}
