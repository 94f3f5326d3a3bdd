//! The `broker` command line: `serve`, `migrate`, `keys generate|rewrap|status`,
//! `links list|revoke|restore`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::config::{LogFormat, Settings};
use crate::crypto::generate_key;
use crate::domain::{KeyId, LinkId};
use crate::key_commands;
use crate::lifecycle::Lifecycle;
use crate::startup::{Application, Migrations, open_store};
use crate::store::{Actor, Restoration, Revocation};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(name = "broker", version, about = "Alexa ↔ Spotify OAuth token broker")]
pub struct Cli {
    /// Configuration file (TOML); `BROKER__SECTION__KEY` variables override it.
    #[arg(long, global = true, env = "BROKER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (applies pending migrations first unless --no-migrate).
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage the token cipher's keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect and revoke links.
    #[command(subcommand)]
    Links(LinksCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random key as the environment line that installs it.
    Generate {
        /// The key id to print it under.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Re-seal everything the key ring seals under the active key (progress on a terminal).
    Rewrap {
        #[arg(long)]
        json: bool,
    },
    /// How many sealed values each key id still holds, and how many links are on their own data key.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// List links (metadata only, never tokens) as JSON lines.
    List,
    /// Revoke a link: destroy its Spotify tokens and revoke its broker tokens.
    Revoke { link_id: String },
    /// Put a link marked relink_required (whose tokens are kept) back into service.
    Restore { link_id: String },
}

/// The link owner for a one-off command: no memory of its own, so it only records changes for the
/// serving replicas to apply.
fn lifecycle(settings: &Settings) -> anyhow::Result<Lifecycle> {
    Ok(Lifecycle::new(open_store(settings)?, Vec::new()))
}

/// Runs one command; errors print as one line to stderr and exit 1.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("broker: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let load = || Settings::load(cli.config.as_deref());
    match cli.command {
        Command::Serve { no_migrate } => {
            let settings = load()?;
            let _logs = telemetry::init(settings.log.format, &settings.log.level);
            let migrations = if no_migrate {
                Migrations::Skip
            } else {
                Migrations::Apply
            };
            let app = Application::build(settings, migrations).await?;
            app.run_until_stopped().await.context("serving")?;
        }
        Command::Migrate => {
            let settings = load()?;
            let _logs = telemetry::init(LogFormat::Pretty, &settings.log.level);
            open_store(&settings)?
                .migrate()
                .await
                .context("applying migrations")?;
            println!("migrations applied");
        }
        Command::Keys(KeysCommand::Rewrap { json }) => {
            let settings = load()?;
            let _logs = telemetry::init(LogFormat::Pretty, &settings.log.level);
            let store = open_store(&settings)?;
            let active = settings.crypto.active_key_id.as_str();
            let report = key_commands::rewrap(&store, active)
                .await
                .context("re-sealing")?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{}", key_commands::describe_rewrap(&report, active));
            }
            if !report.failed.is_empty() {
                anyhow::bail!("{} row(s) did not open", report.failed.len());
            }
        }
        Command::Keys(KeysCommand::Status { json }) => {
            let settings = load()?;
            let usage = open_store(&settings)?.key_usage().await?;
            if json {
                println!("{}", serde_json::to_string(&usage)?);
            } else {
                let configured: Vec<String> = settings.crypto.keys.keys().cloned().collect();
                println!(
                    "{}",
                    key_commands::describe_usage(
                        &usage,
                        &settings.crypto.active_key_id,
                        &configured
                    )
                );
            }
        }
        Command::Keys(KeysCommand::Generate { id }) => {
            // Needs no configuration: it makes the key the configuration will hold.
            let id = KeyId::parse(&id).map_err(|e| anyhow::anyhow!("--id: {e}"))?;
            println!(
                "BROKER__CRYPTO__KEYS__{}={}",
                id.as_str().to_uppercase(),
                generate_key().expose_secret()
            );
        }
        Command::Links(LinksCommand::List) => {
            let store = open_store(&load()?)?;
            let mut after = None;
            loop {
                let page = store.list_links(after.as_ref(), 500).await?;
                for link in &page {
                    println!("{}", serde_json::to_string(link)?);
                }
                match page.last() {
                    Some(last) => after = Some(last.link_id),
                    None => break,
                }
            }
        }
        Command::Links(LinksCommand::Revoke { link_id }) => {
            let link_id = LinkId::parse(&link_id).map_err(|e| anyhow::anyhow!("link_id: {e}"))?;
            match lifecycle(&load()?)?.revoke(&link_id, Actor::Cli).await? {
                Revocation::Revoked => println!("link {link_id} revoked"),
                Revocation::AlreadyRevoked => println!("link {link_id} was already revoked"),
                Revocation::NotFound => anyhow::bail!("no link {link_id}"),
            }
        }
        Command::Links(LinksCommand::Restore { link_id }) => {
            let link_id = LinkId::parse(&link_id).map_err(|e| anyhow::anyhow!("link_id: {e}"))?;
            match lifecycle(&load()?)?.restore(&link_id, Actor::Cli).await? {
                Restoration::Restored => println!("link {link_id} restored"),
                Restoration::NotRestorable => anyhow::bail!(
                    "link {link_id} is not marked relink_required with its tokens kept"
                ),
                Restoration::NotFound => anyhow::bail!("no link {link_id}"),
            }
        }
    }
    Ok(())
}
