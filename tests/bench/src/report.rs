//! The results: one row per scenario, printed as a markdown table or written as JSON, and the process's
//! peak memory.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::Measurement;

/// One scenario's numbers (latencies in milliseconds, over successful requests).
#[derive(Debug, Serialize)]
pub struct Row {
    pub scenario: String,
    pub concurrency: usize,
    pub ok: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    /// Successful requests (or flows) per second.
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Calls the sandbox received (Web API, token endpoint and authorize, from anyone) per request issued,
    /// warm-up included: 1 means every request reached Spotify once, 0 that none did.
    pub sandbox_calls_per_request: Option<f64>,
    /// Why it was skipped, or the first error.
    pub note: Option<String>,
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

impl Row {
    pub fn measured(
        scenario: &str,
        concurrency: usize,
        m: &Measurement,
        sandbox_calls: Option<u64>,
    ) -> Self {
        let issued = m.warmup_requests + m.ok + m.errors;
        let elapsed_s = m.elapsed.as_secs_f64();
        let h = &m.latency_us;
        let pct = |q: f64| {
            if h.is_empty() {
                0.0
            } else {
                ms(h.value_at_quantile(q))
            }
        };
        Self {
            scenario: scenario.to_owned(),
            concurrency,
            ok: m.ok,
            errors: m.errors,
            elapsed_s,
            per_second: if elapsed_s > 0.0 {
                m.ok as f64 / elapsed_s
            } else {
                0.0
            },
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
            sandbox_calls_per_request: sandbox_calls
                .filter(|_| issued > 0)
                .map(|calls| calls as f64 / issued as f64),
            note: m
                .first_error
                .as_ref()
                .map(|err| format!("first error: {err}")),
        }
    }

    pub fn skipped(scenario: &str, reason: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            concurrency: 0,
            ok: 0,
            errors: 0,
            elapsed_s: 0.0,
            per_second: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            sandbox_calls_per_request: None,
            note: Some(format!("skipped: {reason}")),
        }
    }
}

/// How the run was set up.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub backend: String,
    pub users: usize,
    pub concurrency: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub link_flows: usize,
    pub cpus: usize,
    /// Seconds linking the users before the scenarios.
    pub setup_s: f64,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub run: RunInfo,
    pub scenarios: Vec<Row>,
    /// `VmHWM` of this process (sandbox, broker, skill and load generator together), in KiB.
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let r = &self.run;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "backend {}, {} linked users, {} s per scenario after {} s warm-up, {} cpus\n",
            r.backend, r.users, r.duration_s, r.warmup_s, r.cpus
        );
        out.push_str(
            "| scenario | C | ok | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | sandbox calls/req |\n",
        );
        out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        let mut notes = Vec::new();
        for row in &self.scenarios {
            if row.ok == 0 && row.errors == 0 {
                let _ = writeln!(
                    out,
                    "| {} | – | – | – | – | – | – | – | – | – |",
                    row.scenario
                );
            } else {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    row.scenario,
                    row.concurrency,
                    row.ok,
                    row.per_second,
                    row.p50_ms,
                    row.p90_ms,
                    row.p99_ms,
                    row.max_ms,
                    row.errors,
                    row.sandbox_calls_per_request
                        .map_or_else(|| "?".to_owned(), |calls| format!("{calls:.3}"))
                );
            }
            if let Some(note) = &row.note {
                notes.push(format!("- {}: {note}", row.scenario));
            }
        }
        match self.peak_rss_kib {
            Some(kib) => {
                let _ = writeln!(
                    out,
                    "\npeak RSS (VmHWM) of the whole process: {:.1} MiB",
                    kib as f64 / 1024.0
                );
            }
            None => out.push_str("\npeak RSS: unknown (no /proc/self/status)\n"),
        }
        if !notes.is_empty() {
            out.push('\n');
            out.push_str(&notes.join("\n"));
            out.push('\n');
        }
        out
    }
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\tbench\nVmPeak:\t  99 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(12345));
        assert_eq!(parse_vm_hwm("Name:\tbench\n"), None);
    }
}
