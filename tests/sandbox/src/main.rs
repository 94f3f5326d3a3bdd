//! The `spotify-sandbox` binary: telemetry, then the command line.

use clap::Parser;
use spotify_sandbox::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("spotify-sandbox: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
