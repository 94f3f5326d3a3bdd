//! Logging off the hot path: JSON lines in production, pretty lines locally, written by a background
//! thread through a bounded buffer (lines beyond it are dropped and counted, never waited for), and one
//! access line per request with its method, route, status, latency and request id (also sent back as
//! `X-Request-Id`), counted in the metrics ([`metrics`]).

mod json_line;
pub mod metrics;

use std::io::{BufWriter, Stderr, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines the log buffer holds before new ones are dropped (and counted).
const BUFFERED_LINES: usize = 65_536;
/// Bytes of lines the writer thread gathers before it writes to stderr.
const STDERR_BUFFER: usize = 64 * 1024;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// The route label of a request no route matched (unknown paths are not labels: they are unbounded).
const UNMATCHED: &str = "unmatched";

/// The template a route was mounted with, kept in the route's app data so that the access line and the
/// metrics name it without matching the path a second time.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// The response header that names the request id its access line carries.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Resting time of the log writer thread after each write to stderr.
const WRITER_PACE: Duration = Duration::from_millis(2);

/// stderr as the log writer thread uses it. The thread drains every line waiting, then flushes; here
/// the lines gather in a buffer so one write carries them all, and after the write the thread rests a
/// moment. Under load, requests then hand their lines to a thread that is not parked, which costs no
/// wake-up per line; an idle broker's next line still goes out at once.
struct PacedStderr(BufWriter<Stderr>);

impl Default for PacedStderr {
    fn default() -> Self {
        Self(BufWriter::with_capacity(STDERR_BUFFER, std::io::stderr()))
    }
}

impl Write for PacedStderr {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.write(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        std::thread::sleep(WRITER_PACE);
        Ok(())
    }
}

/// Keeps the log writer's thread alive; dropping it flushes what is buffered.
#[must_use = "logs stop when the guard is dropped"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Log lines dropped because the buffer was full since start.
pub fn dropped_log_lines() -> usize {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines)
}

/// Installs the global subscriber; `RUST_LOG` overrides `level`. A second call keeps the first subscriber
/// (and returns a guard that holds nothing).
pub fn init(format: LogFormat, level: &str) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .finish(PacedStderr::default());
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        // Flat JSON lines; the request span contributes only its request id.
        LogFormat::Json => builder
            .fmt_fields(json_line::JsonFields)
            .event_format(json_line::JsonLine)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if installed.is_ok() {
        let _ = DROPPED.set(counter);
        LogGuard {
            _writer: Some(guard),
        }
    } else {
        LogGuard { _writer: None }
    }
}

/// The request span (request id only: the path's query carries OAuth codes and states and is never
/// logged) and, when the request is answered, its one access line.
pub async fn access_log(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut id_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let request_id: &str = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id_text);
    let span = tracing::info_span!("request", request_id);
    let start = Instant::now();
    let method = request.method().clone();
    let mut outcome = next.call(request).instrument(span.clone()).await;
    if let Ok(response) = outcome.as_mut()
        && let Ok(value) = HeaderValue::from_str(request_id)
    {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let (status, route) = match &outcome {
        Ok(response) => (
            response.status().as_u16(),
            response
                .request()
                .app_data::<RouteLabel>()
                .map_or(UNMATCHED, |label| label.0),
        ),
        Err(err) => (err.as_response_error().status_code().as_u16(), UNMATCHED),
    };
    let elapsed = start.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "access",
        parent: &span,
        method = method.as_str(),
        route,
        status,
        latency_us,
        "request"
    );
    metrics::http_request(route, status, elapsed);
    outcome
}
