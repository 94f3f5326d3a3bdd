//! The `skill` binary: `skill serve [--config <file>]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use skill::configuration::Settings;
use skill::startup::Application;

/// The thin Alexa skill service.
#[derive(Debug, Parser)]
#[command(name = "skill", version, about)]
struct Cli {
    /// A configuration file (TOML); `SKILL__SECTION__KEY` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve `POST /alexa` and `GET /healthz`.
    Serve,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("skill: bad configuration: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = skill::telemetry::init(settings.log_format, "info", std::io::stdout) {
        eprintln!("skill: setting up logging: {error:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Serve => match Application::build(settings) {
            Ok(application) => application.run_until_stopped().await.map_err(Into::into),
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "skill stopped");
            eprintln!("skill: {error:#}");
            ExitCode::FAILURE
        }
    }
}
