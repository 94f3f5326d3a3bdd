//! Requests under way, counted so that a graceful stop (SIGTERM) can wait for them before the HTTP
//! servers stop: actix-server's own graceful stop lets a worker quit as soon as its accept thread is
//! gone, and a worker that sees that before its stop message drops the requests it is serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many requests the servers are answering (every listener's, counted from routing to the answer).
#[derive(Debug, Clone, Default)]
pub struct RequestsUnderWay(Arc<AtomicUsize>);

impl RequestsUnderWay {
    /// Counts one request until the returned guard is dropped.
    pub fn enter(&self) -> UnderWay {
        self.0.fetch_add(1, Ordering::AcqRel);
        UnderWay(Arc::clone(&self.0))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Waits until no request is under way, or `within` has passed; says whether they all finished.
    pub async fn drained(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// One request under way.
#[derive(Debug)]
pub struct UnderWay(Arc<AtomicUsize>);

impl Drop for UnderWay {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_waits_for_every_request_and_no_longer_than_asked() {
        let under_way = RequestsUnderWay::default();
        assert!(under_way.drained(Duration::from_secs(1)).await);
        let first = under_way.enter();
        let second = under_way.enter();
        assert_eq!(under_way.count(), 2);
        assert!(!under_way.drained(Duration::from_millis(30)).await);
        drop(first);
        let finishing = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(second);
        });
        assert!(under_way.drained(Duration::from_secs(5)).await);
        finishing.await.unwrap();
        assert_eq!(under_way.count(), 0);
    }
}
