//! Fault injection: the next N matching calls answer 5xx or 429, and every call can be delayed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// What a faulted call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// This status (500–599) with a Spotify-shaped error body.
    Status {
        /// The status code.
        status: u16,
    },
    /// 429 with `Retry-After: <retry_after_s>` and `{"error":{"status":429,"message":"API rate limit exceeded"}}`.
    RateLimit {
        /// Seconds to put in `Retry-After`.
        retry_after_s: u64,
    },
    /// 429 with `{"error":{"status":429,"message":"Too many requests","reason":"QUOTA_EXCEEDED"}}`, the
    /// development-mode quota being used up (Spotify's July 2026 changelog), with `Retry-After` when given.
    QuotaExceeded {
        /// Seconds to put in `Retry-After`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
    },
}

/// A fault rule: answer the next `count` matching calls with `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// How many calls to fault.
    pub count: u32,
    /// The answer.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only calls whose path starts with this prefix (e.g. `/v1/me/player`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Whether `POST /api/token` calls may be faulted too (by default only Web API calls are).
    #[serde(default)]
    pub include_token_endpoint: bool,
}

/// The active fault rules and latency.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    pending: AtomicUsize,
    latency_ms: AtomicU64,
}

impl Faults {
    /// Adds a rule; rules apply in the order added.
    pub fn add(&self, rule: FaultRule) {
        if rule.count == 0 {
            return;
        }
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
            self.pending.store(rules.len(), Ordering::Release);
        }
    }

    /// Drops every rule and the latency.
    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
            self.pending.store(0, Ordering::Release);
        }
        self.latency_ms.store(0, Ordering::Relaxed);
    }

    /// The rules still pending.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Sets the latency added to every non-control call.
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// The latency added to every non-control call.
    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.load(Ordering::Relaxed)
    }

    /// Consumes one use of the first rule matching this call, if any.
    pub fn take(&self, path: &str, is_token_endpoint: bool) -> Option<FaultKind> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut rules = self.rules.lock().ok()?;
        let index = rules.iter().position(|r| {
            (!is_token_endpoint || r.include_token_endpoint)
                && r.path_prefix
                    .as_deref()
                    .is_none_or(|prefix| path.starts_with(prefix))
        })?;
        let kind = rules[index].kind;
        rules[index].count -= 1;
        if rules[index].count == 0 {
            rules.remove(index);
        }
        self.pending.store(rules.len(), Ordering::Release);
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_consumed_in_order_and_filtered() {
        let faults = Faults::default();
        faults.add(FaultRule {
            count: 1,
            kind: FaultKind::Status { status: 503 },
            path_prefix: Some("/v1/me/player".to_owned()),
            include_token_endpoint: false,
        });
        faults.add(FaultRule {
            count: 1,
            kind: FaultKind::RateLimit { retry_after_s: 3 },
            path_prefix: None,
            include_token_endpoint: true,
        });
        assert_eq!(
            faults.take("/api/token", true),
            Some(FaultKind::RateLimit { retry_after_s: 3 })
        );
        assert_eq!(faults.take("/v1/me", false), None);
        assert_eq!(
            faults.take("/v1/me/player", false),
            Some(FaultKind::Status { status: 503 })
        );
        assert_eq!(faults.take("/v1/me/player", false), None);
    }
}
