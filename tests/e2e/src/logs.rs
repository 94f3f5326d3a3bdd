//! Logs in the suite: silent unless `TEST_LOG=1` (then pretty lines at debug on stderr, or `RUST_LOG`), and
//! capturable at TRACE as JSON lines so a test can search everything the process logged.
//!
//! One global subscriber serves the whole test binary, because the broker's HTTP workers run on their own
//! threads, out of reach of a thread-local default.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

static INIT: Once = Once::new();
static CAPTURING: AtomicUsize = AtomicUsize::new(0);
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct CaptureWriter;

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        BUFFER
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the suite's global subscriber once; every spawn helper calls it.
pub fn init() {
    INIT.call_once(|| {
        let verbose = std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
        let stderr = verbose.then(|| {
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("debug"));
            fmt::layer().pretty().with_test_writer().with_filter(filter)
        });
        let capture = fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(|| CaptureWriter)
            .with_filter(FilterFn::new(|_| CAPTURING.load(Ordering::Relaxed) > 0));
        let _ = tracing_subscriber::registry()
            .with(stderr)
            .with(capture)
            .try_init();
    });
}

/// While alive, every event and span of the process (all crates, TRACE) is written to a shared buffer as JSON.
#[derive(Debug)]
pub struct LogCapture {
    start: usize,
}

impl LogCapture {
    pub fn start() -> Self {
        init();
        CAPTURING.fetch_add(1, Ordering::SeqCst);
        let start = BUFFER.lock().unwrap_or_else(PoisonError::into_inner).len();
        Self { start }
    }

    /// Everything logged since this capture started (other tests running at the same time included).
    pub fn contents(&self) -> String {
        let buffer = BUFFER.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buffer[self.start.min(buffer.len())..]).into_owned()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURING.fetch_sub(1, Ordering::SeqCst);
    }
}
