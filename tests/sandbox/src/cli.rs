//! The `spotify-sandbox` command line: `serve` with users from a file or flags.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::config::SandboxConfig;
use crate::demo;
use crate::seed::UserSeed;
use crate::server::{Application, Signals};

/// Command line of `spotify-sandbox`.
#[derive(Debug, Parser)]
#[command(
    name = "spotify-sandbox",
    version,
    about = "A stand-in for Spotify's accounts service and Web API"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the sandbox until interrupted.
    Serve(ServeArgs),
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SPOTIFY_SANDBOX_BIND", default_value = "127.0.0.1:8090")]
    pub bind: String,
    /// JSON file: `{"client_id", "client_secret", "default_user", "users": [UserSeed]}` (all optional).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// JSON file holding an array of users (UserSeed).
    #[arg(long)]
    pub users_file: Option<PathBuf>,
    /// Add a premium user with the demo devices and playlists (repeatable).
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// User `/authorize` approves for when none is named (default: the first user).
    #[arg(long)]
    pub default_user: Option<String>,
    /// Client id to accept.
    #[arg(long, env = "SPOTIFY_SANDBOX_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Client secret to accept.
    #[arg(long, env = "SPOTIFY_SANDBOX_CLIENT_SECRET")]
    pub client_secret: Option<String>,
    /// Base URL for links in responses (default `http://<bound address>`).
    #[arg(long)]
    pub public_url: Option<String>,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    client_id: Option<String>,
    client_secret: Option<String>,
    default_user: Option<String>,
    #[serde(default)]
    users: Vec<UserSeed>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

impl ServeArgs {
    /// The sandbox configuration these arguments describe.
    pub fn to_config(&self) -> anyhow::Result<SandboxConfig> {
        let file: FileConfig = match &self.config {
            Some(path) => read_json(path)?,
            None => FileConfig::default(),
        };
        let mut users = file.users;
        if let Some(path) = &self.users_file {
            let more: Vec<UserSeed> = read_json(path)?;
            users.extend(more);
        }
        users.extend(self.users.iter().map(|id| demo::user(id)));
        let mut config = if users.is_empty() {
            SandboxConfig::default()
        } else {
            SandboxConfig::with_users(users)
        };
        for id in config.users.iter().map(|u| u.id.as_str()) {
            if id.is_empty() {
                bail!("a user has an empty id");
            }
            if config.users.iter().filter(|u| u.id == id).count() > 1 {
                bail!("user {id} is defined twice");
            }
        }
        if let Some(default_user) = self.default_user.clone().or(file.default_user) {
            config.default_user = Some(default_user);
        }
        if let Some(default_user) = &config.default_user {
            if !config.users.iter().any(|u| &u.id == default_user) {
                bail!("default user {default_user} is not among the users");
            }
        }
        if let Some(id) = self.client_id.clone().or(file.client_id) {
            config.client_id = id;
        }
        if let Some(secret) = self.client_secret.clone().or(file.client_secret) {
            config.client_secret = secret;
        }
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            bail!("client id and client secret must not be empty");
        }
        config.public_url = self.public_url.clone();
        config.workers = self.workers.max(1);
        Ok(config)
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.to_config()?;
            let app = Application::build(&config, &args.bind, Signals::Handle)?;
            tracing::info!(
                users = config.users.len(),
                "spotify sandbox listening on {}",
                app.base_url()
            );
            app.run_until_stopped().await.context("serving")
        }
    }
}
