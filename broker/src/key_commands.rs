//! The `broker keys rewrap` and `broker keys status` commands: re-sealing what the key ring seals under
//! its active key (a progress bar on a terminal, counts in the logs, failures listed at the end), and
//! showing what each key id still seals, so that retiring a key is a checked step.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::{KeyUsage, RewrapReport, Store};

/// How often the logs hear of a rewrap's progress, in rows.
const LOG_EVERY: u64 = 1000;

/// Re-seals under the active key; returns the report (failed rows named, never their content).
pub async fn rewrap(store: &Store, active_key_id: &str) -> anyhow::Result<RewrapReport> {
    let total = store.key_ring_rows().await?;
    // Drawn only when stderr is a terminal; scripts and logs get the counts below instead.
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} re-sealing [{bar:40}] {pos}/{len} rows ({eta} left)",
    ) {
        bar.set_style(style);
    }
    let report = store
        .rewrap_with_progress(|report| {
            bar.set_position(report.examined);
            if report.examined % LOG_EVERY == 0 {
                tracing::info!(
                    examined = report.examined,
                    rewrapped = report.rewrapped,
                    failed = report.failed.len(),
                    total,
                    "re-sealing under key {active_key_id}"
                );
            }
        })
        .await?;
    bar.finish_and_clear();
    tracing::info!(
        examined = report.examined,
        rewrapped = report.rewrapped,
        failed = report.failed.len(),
        "re-sealing finished"
    );
    Ok(report)
}

/// The human-readable rewrap summary.
pub fn describe_rewrap(report: &RewrapReport, active_key_id: &str) -> String {
    let mut text = format!(
        "re-sealed {} of {} value(s) sealed by the key ring under key {active_key_id}",
        report.rewrapped, report.examined
    );
    if !report.failed.is_empty() {
        text.push_str(&format!(
            "\n{} row(s) did not open (a key missing from crypto.keys, or tampering):",
            report.failed.len()
        ));
        for row in &report.failed {
            text.push_str(&format!("\n  {row}"));
        }
    }
    text
}

/// The human-readable key status: one line per key id, then the links that no longer need the ring.
pub fn describe_usage(usage: &KeyUsage, active_key_id: &str, configured: &[String]) -> String {
    let mut lines = vec![format!("{:<12} {:>8}  note", "key id", "sealed")];
    let mut ids: Vec<&String> = configured.iter().collect();
    for id in usage.sealed_values_by_key.keys() {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for id in ids {
        let count = usage.sealed_values_by_key.get(id).copied().unwrap_or(0);
        let note = match (id == active_key_id, configured.contains(id), count) {
            (true, _, _) => "active",
            (false, false, _) => "NOT IN crypto.keys: these rows do not open",
            (false, true, 0) => "unused: safe to remove from crypto.keys",
            (false, true, _) => "still in use: run `broker keys rewrap` before removing it",
        };
        lines.push(format!("{id:<12} {count:>8}  {note}"));
    }
    lines.push(format!(
        "links on their own data key: {}; links still on the key ring (move at their next refresh grant): {}",
        usage.links_on_data_keys, usage.links_on_key_ring
    ));
    if usage.unreadable > 0 {
        lines.push(format!(
            "values whose key id cannot be read: {}",
            usage.unreadable
        ));
    }
    lines.join("\n")
}
