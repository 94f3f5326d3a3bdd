//! Tracing setup: JSON lines in production, pretty lines on a terminal, silence in tests unless `TEST_LOG=1`;
//! and the skill's metrics ([`metrics`]).

pub mod metrics;

use std::io::IsTerminal;

use tracing::subscriber::set_global_default;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::configuration::LogFormat;

/// Installs the global subscriber writing to `sink`; `RUST_LOG` overrides `default_filter`.
pub fn init<W>(format: LogFormat, default_filter: &str, sink: W) -> anyhow::Result<()>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let pretty = match format {
        LogFormat::Pretty => true,
        LogFormat::Json => false,
        LogFormat::Auto => std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink);
    if pretty {
        set_global_default(builder.pretty().finish())?;
    } else {
        set_global_default(
            builder
                .json()
                .flatten_event(true)
                // The span list carries the request id of the enclosing request span.
                .with_current_span(false)
                .with_span_list(true)
                .finish(),
        )?;
    }
    Ok(())
}

/// For tests: logs to stdout when `TEST_LOG` is set, otherwise nowhere; safe to call many times.
pub fn init_for_tests() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let result = if std::env::var_os("TEST_LOG").is_some() {
            init(LogFormat::Pretty, "debug", std::io::stdout)
        } else {
            init(LogFormat::Json, "info", std::io::sink)
        };
        // A second subscriber in the same process (another crate's helper) is fine.
        drop(result);
    });
}
