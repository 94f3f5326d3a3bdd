//! The one Prometheus recorder of a process, shared by the broker and the skill (each exports its own
//! families through it; in a test process that runs both, one registry holds both).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency histograms, in seconds: sub-millisecond cache hits to slow upstreams.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often recorded histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; `None` when another recorder was installed first
/// (metrics then go there, and `/metrics` says it cannot render them).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )
        .ok()?
        .install_recorder()
        .ok()?;
    let upkeep = handle.clone();
    // Samples wait in per-histogram buffers until upkeep; without scrapes they would grow unbounded.
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        });
    spawned.ok().map(|_| handle)
}
