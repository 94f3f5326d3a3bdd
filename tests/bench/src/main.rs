//! `bench`: starts the sandbox Spotify and the broker (and, with the `skill` feature, the skill) in this
//! process, links users, measures each scenario with a closed-loop load generator and prints a table.

mod flow;
mod load;
mod report;
mod scenarios;
mod stack;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

use crate::flow::AlexaClient;
use crate::load::LoadSettings;
use crate::report::{Report, Row, RunInfo};
use crate::scenarios::Shared;
use crate::stack::{Backend, Stack, StackOptions};

/// Benchmarks the broker against the sandbox Spotify, all in this process on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Args {
    /// Concurrent workers of the closed-loop scenarios (each keeps one request in flight).
    #[arg(short = 'c', long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// Seconds each closed-loop scenario is measured.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unmeasured load before each closed-loop scenario.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Sandbox users linked through the broker before the scenarios.
    #[arg(short = 'n', long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    users: u16,
    /// How many full link flows the link-flow scenario runs, one after the other.
    #[arg(short = 'k', long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    link_flows: u16,
    /// Give up on one request (or one link flow) after this many milliseconds; it counts as an error.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Most requests one worker issues in one scenario, whatever the time left.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests_per_worker: u64,
    /// Only these scenarios (comma-separated); default all.
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::PossibleValuesParser::new(scenarios::ALL))]
    scenarios: Vec<String>,
    /// Store the broker's rows in a fresh database on Postgres instead of a SQLite file.
    #[arg(long)]
    postgres: bool,
    /// The Postgres server for `--postgres` (a loopback host).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres_url: String,
    /// HTTP worker threads of the sandbox.
    #[arg(long, default_value_t = 2)]
    sandbox_workers: usize,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run even though this is a debug build (numbers will be meaningless).
    #[arg(long)]
    allow_debug: bool,
}

impl Args {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == scenario)
    }
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    if !(0.0..=3600.0).contains(&value) {
        bail!("{flag} must be between 0 and 3600 seconds");
    }
    Ok(Duration::from_secs_f64(value))
}

/// Only loopback databases: the bench never sends load elsewhere.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).with_context(|| format!("--postgres-url {url}"))?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        other => bail!("--postgres-url must point at a loopback host, not {other:?}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if cfg!(debug_assertions) && !args.allow_debug {
        bail!(
            "benchmarks need a release build: cargo run --release -p bench (or pass --allow-debug)"
        );
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let load = LoadSettings {
        concurrency: usize::from(args.concurrency),
        duration: seconds(args.duration, "--duration")?,
        warmup: seconds(args.warmup, "--warmup")?,
        request_timeout: Duration::from_millis(args.timeout_ms.clamp(1, 60_000)),
        max_requests_per_worker: args.max_requests_per_worker.max(1),
    };
    let backend = if args.postgres {
        check_loopback(&args.postgres_url)?;
        Backend::Postgres {
            server_url: args.postgres_url.clone(),
        }
    } else {
        Backend::Sqlite
    };
    let backend_name = if args.postgres { "postgres" } else { "sqlite" };
    let link_flows = if args.wants(scenarios::LINK_FLOW) {
        usize::from(args.link_flows)
    } else {
        0
    };

    eprintln!("starting the sandbox and the broker ({backend_name})");
    let stack = Stack::start(&StackOptions {
        backend,
        users: usize::from(args.users),
        link_users: link_flows,
        sandbox_workers: args.sandbox_workers.clamp(1, 64),
    })
    .await?;
    let outcome = run(&args, &load, &stack, backend_name).await;
    if let Err(err) = stack.stop().await {
        eprintln!("warning: cleaning up: {err:#}");
    }
    let report = outcome?;

    print!("{}", report.markdown());
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

async fn run(
    args: &Args,
    load: &LoadSettings,
    stack: &Stack,
    backend_name: &str,
) -> anyhow::Result<Report> {
    let timeout = load.request_timeout;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(load.concurrency * 2)
        .tcp_nodelay(true)
        .build()
        .context("building the http client")?;
    let alexa = AlexaClient {
        http: http.clone(),
        broker_url: stack.broker_url.clone(),
        client_id: stack::ALEXA_CLIENT_ID.to_owned(),
        client_secret: stack.alexa_client_secret.clone(),
        redirect_uri: stack::ALEXA_REDIRECT_URI.to_owned(),
    };

    let setup = Instant::now();
    eprintln!("linking {} users", stack.users.len());
    let mut links = Vec::with_capacity(stack.users.len());
    let mut spotify_tokens = Vec::with_capacity(stack.users.len());
    for user in &stack.users {
        let linked = tokio::time::timeout(timeout, alexa.link(user))
            .await
            .with_context(|| format!("linking {user} timed out"))?
            .with_context(|| format!("linking {user}"))?;
        links.push(linked);
        let token = tokio::time::timeout(
            timeout,
            flow::sandbox_access_token(
                &http,
                &stack.sandbox.base_url,
                &stack.sandbox.client_id,
                &stack.sandbox.client_secret,
                user,
            ),
        )
        .await
        .with_context(|| format!("spotify token for {user} timed out"))??;
        spotify_tokens.push(token);
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let skill_url = start_skill(args, stack)?;
    let ctx = Arc::new(Shared {
        http,
        sandbox_url: stack.sandbox.base_url.clone(),
        broker_url: stack.broker_url.clone(),
        service_token: stack.service_token.clone(),
        spotify_tokens,
        links,
        alexa,
        skill_url,
    });

    let mut rows = Vec::new();
    for name in scenarios::ALL {
        if !args.wants(name) {
            continue;
        }
        eprintln!("running {name}");
        stack
            .sandbox
            .client
            .reset_counters()
            .await
            .context("resetting the sandbox counters")?;
        let measured = match name {
            scenarios::SANDBOX_DIRECT => scenarios::sandbox_direct(&ctx, load).await?,
            scenarios::BROKER_CACHED => scenarios::broker_cached(&ctx, load).await?,
            scenarios::SANDBOX_DIRECT_SEARCH => {
                scenarios::sandbox_direct_search(&ctx, load).await?
            }
            scenarios::BROKER_UNCACHED => scenarios::broker_uncached(&ctx, load).await?,
            scenarios::SKILL_WHATS_PLAYING | scenarios::SKILL_HELP => {
                if ctx.skill_url.is_none() {
                    rows.push(Row::skipped(name, SKILL_MISSING));
                    continue;
                }
                let intent = if name == scenarios::SKILL_HELP {
                    scenarios::SkillIntent::Help
                } else {
                    scenarios::SkillIntent::WhatsPlaying
                };
                scenarios::skill_intent(&ctx, load, intent).await?
            }
            scenarios::TOKEN_REFRESH_GRANT => scenarios::token_refresh_grant(&ctx, load).await?,
            scenarios::LINK_FLOW => {
                let measured = scenarios::link_flow(&ctx, &stack.link_users, timeout).await?;
                rows.push(Row::measured(
                    name,
                    1,
                    &measured,
                    sandbox_calls(stack).await,
                ));
                continue;
            }
            other => bail!("unknown scenario {other}"),
        };
        let calls = sandbox_calls(stack).await;
        rows.push(Row::measured(name, load.concurrency, &measured, calls));
    }

    Ok(Report {
        run: RunInfo {
            backend: backend_name.to_owned(),
            users: stack.users.len(),
            concurrency: load.concurrency,
            duration_s: load.duration.as_secs_f64(),
            warmup_s: load.warmup.as_secs_f64(),
            link_flows: stack.link_users.len(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            setup_s,
        },
        scenarios: rows,
        peak_rss_kib: report::peak_rss_kib(),
    })
}

/// Every call the sandbox counted since the last reset, or `None` when the counters cannot be read.
async fn sandbox_calls(stack: &Stack) -> Option<u64> {
    match stack.sandbox.client.counters().await {
        Ok(c) => Some(c.api_total + c.token_total + c.authorize),
        Err(err) => {
            eprintln!("warning: reading the sandbox counters: {err:#}");
            None
        }
    }
}

#[cfg(feature = "skill")]
const SKILL_MISSING: &str = "the skill did not start";
#[cfg(not(feature = "skill"))]
const SKILL_MISSING: &str =
    "built without the `skill` feature (cargo run --release -p bench --features skill)";

#[cfg(feature = "skill")]
fn start_skill(args: &Args, stack: &Stack) -> anyhow::Result<Option<String>> {
    if !args.wants(scenarios::SKILL_WHATS_PLAYING) {
        return Ok(None);
    }
    let (url, _task) =
        stack::start_skill(&stack.broker_url, &stack.service_token, scenarios::SKILL_ID)?;
    Ok(Some(url))
}

#[cfg(not(feature = "skill"))]
fn start_skill(_args: &Args, _stack: &Stack) -> anyhow::Result<Option<String>> {
    Ok(None)
}
