//! The `broker` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: a request allocates and frees many small buffers (headers, the access line, futures), which
/// it serves from per-thread pages faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    broker::cli::run(broker::cli::Cli::parse()).await
}
