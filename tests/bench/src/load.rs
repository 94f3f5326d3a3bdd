//! The load generators: a closed loop of concurrent workers for a fixed time, and a sequential loop for a fixed
//! count, both bounded in requests and in time, recording latencies in an HDR histogram.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

/// Largest latency the histograms hold, in microseconds (longer ones saturate to it).
const MAX_LATENCY_US: u64 = 120_000_000;

/// A process-wide request counter, so every request (warm-up included) gets a unique number.
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(0);

/// How a closed-loop run is shaped.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Workers, each with at most one request in flight.
    pub concurrency: usize,
    /// How long the measured phase issues requests.
    pub duration: Duration,
    /// How long the unmeasured warm-up phase issues requests first.
    pub warmup: Duration,
    /// Longest a single request (or flow) may take before it counts as an error.
    pub request_timeout: Duration,
    /// Most requests one worker issues per phase, whatever the time left.
    pub max_requests_per_worker: u64,
}

/// What one phase measured.
#[derive(Debug)]
pub struct Measurement {
    /// Successful requests.
    pub ok: u64,
    /// Failed requests: transport errors, unexpected statuses or bodies, timeouts.
    pub errors: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latencies of the successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The first failure's message, to tell what went wrong.
    pub first_error: Option<String>,
    /// Requests issued in the unmeasured warm-up before.
    pub warmup_requests: u64,
}

impl Measurement {
    fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency_us: new_histogram()?,
            first_error: None,
            warmup_requests: 0,
        })
    }

    fn record(&mut self, started: Instant, outcome: Result<anyhow::Result<()>, Elapsed>) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match outcome {
            Ok(Ok(())) => {
                self.ok += 1;
                self.latency_us.saturating_record(micros.max(1));
            }
            Ok(Err(err)) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
            Err(Elapsed(limit)) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("timed out after {limit:?}"));
            }
        }
    }

    fn merge(&mut self, other: Self) -> anyhow::Result<()> {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latency_us
            .add(&other.latency_us)
            .context("merging latency histograms")?;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// A request that outlived its timeout.
#[derive(Debug)]
struct Elapsed(Duration);

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).context("creating a latency histogram")
}

/// Runs `op(worker, request_number)` in `concurrency` closed loops: a warm-up phase that is thrown away, then
/// the measured phase. Each worker issues its next request as soon as the previous one answers, until the
/// phase's time is up or it has issued `max_requests_per_worker`; each request is cut off at
/// `request_timeout`, so a phase lasts at most `duration + request_timeout`.
pub async fn closed_loop<F, Fut>(settings: &LoadSettings, op: F) -> anyhow::Result<Measurement>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut warmup_requests = 0;
    if !settings.warmup.is_zero() {
        let warmup = phase(settings, settings.warmup, op.clone()).await?;
        if warmup.errors > 0 {
            eprintln!(
                "  warm-up: {} errors (first: {})",
                warmup.errors,
                warmup.first_error.as_deref().unwrap_or("?")
            );
        }
        warmup_requests = warmup.ok + warmup.errors;
    }
    let mut measured = phase(settings, settings.duration, op).await?;
    measured.warmup_requests = warmup_requests;
    Ok(measured)
}

async fn phase<F, Fut>(
    settings: &LoadSettings,
    duration: Duration,
    op: F,
) -> anyhow::Result<Measurement>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(settings.concurrency);
    for worker in 0..settings.concurrency {
        let op = op.clone();
        let timeout = settings.request_timeout;
        let max_requests = settings.max_requests_per_worker;
        workers.push(tokio::spawn(async move {
            let mut measured = Measurement::empty()?;
            let mut issued = 0u64;
            while issued < max_requests && Instant::now() < deadline {
                issued += 1;
                let number = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let outcome = tokio::time::timeout(timeout, op(worker, number))
                    .await
                    .map_err(|_| Elapsed(timeout));
                measured.record(sent, outcome);
            }
            anyhow::Ok(measured)
        }));
    }
    let mut total = Measurement::empty()?;
    for worker in workers {
        total.merge(worker.await.context("joining a load worker")??)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Runs `op(i)` for `i` in `0..count`, one after the other, each cut off at `timeout`.
pub async fn sequential<F, Fut>(
    count: usize,
    timeout: Duration,
    op: F,
) -> anyhow::Result<Measurement>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let mut measured = Measurement::empty()?;
    for i in 0..count {
        let sent = Instant::now();
        let outcome = tokio::time::timeout(timeout, op(i))
            .await
            .map_err(|_| Elapsed(timeout));
        measured.record(sent, outcome);
    }
    measured.elapsed = started.elapsed();
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_loop_is_bounded_by_count_and_counts_errors() {
        let settings = LoadSettings {
            concurrency: 3,
            duration: Duration::from_secs(30),
            warmup: Duration::ZERO,
            request_timeout: Duration::from_secs(1),
            max_requests_per_worker: 10,
        };
        let measured = closed_loop(&settings, |worker, _| async move {
            if worker == 0 {
                anyhow::bail!("worker zero fails")
            }
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(measured.ok, 20);
        assert_eq!(measured.errors, 10);
        assert_eq!(measured.latency_us.len(), 20);
        assert_eq!(measured.first_error.as_deref(), Some("worker zero fails"));
    }

    #[tokio::test]
    async fn timeouts_count_as_errors() {
        let measured = sequential(2, Duration::from_millis(10), |_| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!((measured.ok, measured.errors), (0, 2));
    }
}
