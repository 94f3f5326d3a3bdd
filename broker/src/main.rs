//! The `broker` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    broker::cli::run(broker::cli::Cli::parse()).await
}
