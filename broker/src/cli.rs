//! The `broker` command line: `serve`, `migrate`, `keys generate|rewrap|status`,
//! `links list|show|revoke|restore`, `audit`. What the admin API answers, the command line prints: JSON
//! lines with `--json`, else a table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::admin::{AdminLink, AuditEventBody};
use crate::config::{LogFormat, Settings};
use crate::crypto::generate_key;
use crate::domain::{KeyId, LinkId, UnixTime};
use crate::key_commands;
use crate::lifecycle::Lifecycle;
use crate::startup::{Application, Migrations, open_store};
use crate::store::{
    Actor, AuditFilter, AuditKind, LinkDetails, LinkFilter, LinkStatus, Restoration, Revocation,
};
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
    /// Inspect, revoke and restore links.
    #[command(subcommand)]
    Links(LinksCommand),
    /// Read the audit trail, oldest first.
    Audit {
        /// Only this link's events.
        #[arg(long)]
        link_id: Option<String>,
        /// Only events of this kind (`revoked`, `relink_required`, …).
        #[arg(long)]
        kind: Option<String>,
        /// One JSON object per line, as `GET /admin/audit` has them.
        #[arg(long)]
        json: bool,
    },
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
    /// List links (metadata only, never tokens).
    List {
        /// Only links in this status: active, relink_required or revoked.
        #[arg(long)]
        status: Option<String>,
        /// Only links due for relinking before this time (RFC 3339).
        #[arg(long)]
        relink_due_before: Option<String>,
        /// One JSON object per line, as `GET /admin/links` has them.
        #[arg(long)]
        json: bool,
    },
    /// Show one link's metadata.
    Show {
        link_id: String,
        /// JSON, as `GET /admin/links/{link_id}` has it.
        #[arg(long)]
        json: bool,
    },
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
            let reason = format!(
                "{} of {} value(s) re-sealed under key {active}, {} did not open",
                report.rewrapped,
                report.examined,
                report.failed.len()
            );
            store
                .record_app_event(
                    None,
                    AuditKind::KeysRewrapped,
                    Actor::Cli,
                    Some(&reason),
                    UnixTime::now(),
                )
                .await
                .context("recording the rewrap in the audit trail")?;
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
        Command::Links(LinksCommand::List {
            status,
            relink_due_before,
            json,
        }) => {
            let filter = LinkFilter {
                status: status
                    .as_deref()
                    .map(|raw| {
                        LinkStatus::parse(raw).map_err(|_| {
                            anyhow::anyhow!("--status: active, relink_required or revoked")
                        })
                    })
                    .transpose()?,
                relink_due_before: relink_due_before
                    .as_deref()
                    .map(|raw| {
                        chrono::DateTime::parse_from_rfc3339(raw)
                            .map(|t| UnixTime::from_secs(t.timestamp()))
                            .map_err(|_| anyhow::anyhow!("--relink-due-before: an RFC 3339 time"))
                    })
                    .transpose()?,
            };
            let store = open_store(&load()?)?;
            let mut after = None;
            let mut rows = Vec::new();
            loop {
                let page = store.list_link_details(filter, after.as_ref(), 500).await?;
                for link in &page {
                    if json {
                        println!("{}", serde_json::to_string(&AdminLink::from(link))?);
                    } else {
                        rows.push(link_row(link));
                    }
                }
                match page.last() {
                    Some(last) => after = Some(last.summary.link_id),
                    None => break,
                }
            }
            if !json {
                print!("{}", table(&LINK_COLUMNS, &rows));
            }
        }
        Command::Links(LinksCommand::Show { link_id, json }) => {
            let link_id = LinkId::parse(&link_id).map_err(|e| anyhow::anyhow!("link_id: {e}"))?;
            let store = open_store(&load()?)?;
            let Some(link) = store.link_details(&link_id).await? else {
                anyhow::bail!("no link {link_id}");
            };
            let shown = serde_json::to_value(AdminLink::from(&link))?;
            if json {
                println!("{shown}");
            } else if let Some(fields) = shown.as_object() {
                let width = fields.keys().map(String::len).max().unwrap_or_default();
                for (name, value) in fields {
                    println!("{name:width$}  {}", plain(value));
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
        Command::Audit {
            link_id,
            kind,
            json,
        } => {
            let filter = AuditFilter {
                link_id: link_id
                    .as_deref()
                    .map(|raw| LinkId::parse(raw).map_err(|e| anyhow::anyhow!("--link-id: {e}")))
                    .transpose()?,
                kind: kind
                    .as_deref()
                    .map(|raw| {
                        AuditKind::parse(raw).ok_or_else(|| {
                            let kinds: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                            anyhow::anyhow!("--kind: one of {}", kinds.join(", "))
                        })
                    })
                    .transpose()?,
            };
            let store = open_store(&load()?)?;
            let mut after = None;
            let mut rows = Vec::new();
            loop {
                let page = store.audit_events(&filter, after.as_ref(), 500).await?;
                for event in &page {
                    if json {
                        println!("{}", serde_json::to_string(&AuditEventBody::from(event))?);
                    } else {
                        rows.push(vec![
                            event.at.to_rfc3339(),
                            event.kind.clone(),
                            event.link_id.map(|id| id.to_string()).unwrap_or_default(),
                            event.actor.clone(),
                            event.reason.clone().unwrap_or_default(),
                        ]);
                    }
                }
                match page.last() {
                    Some(last) => after = Some(last.cursor().clone()),
                    None => break,
                }
            }
            if !json {
                print!(
                    "{}",
                    table(&["AT", "KIND", "LINK", "ACTOR", "REASON"], &rows)
                );
            }
        }
    }
    Ok(())
}

const LINK_COLUMNS: [&str; 7] = [
    "LINK",
    "STATUS",
    "NAME",
    "RELINK DUE",
    "LAST REFRESH",
    "LAST USE",
    "SEALED BY",
];

fn link_row(link: &LinkDetails) -> Vec<String> {
    let time = |t: Option<UnixTime>| t.map_or_else(|| "-".to_owned(), UnixTime::to_rfc3339);
    vec![
        link.summary.link_id.to_string(),
        link.summary.status.as_str().to_owned(),
        link.summary.display_name.clone().unwrap_or_default(),
        link.relink_due_at().to_rfc3339(),
        time(link.last_refreshed_at),
        time(link.last_used_at),
        link.sealed_by.clone(),
    ]
}

/// A JSON value as a person reads it: strings without quotes, null as `-`.
fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Rows under a header, each column as wide as its widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".to_owned(), "long value".to_owned()],
            vec!["longer".to_owned(), "b".to_owned()],
        ];
        assert_eq!(
            table(&["X", "Y"], &rows),
            "X       Y\na       long value\nlonger  b\n"
        );
        assert_eq!(table(&["X"], &[]), "X\n");
    }
}
