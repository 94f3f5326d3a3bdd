//! Stopping an actix-web service without dropping the requests it is answering, for the broker and the
//! skill alike.
//!
//! actix-server's own graceful stop is not enough: its accept thread stops first, and a worker that sees
//! its connection channel closed before its stop message returns at once, dropping the requests it is
//! serving (the broker's replicas SIGTERM test failed 5 runs in 12 with it). So each service counts its
//! requests under way ([`RequestsUnderWay`], a middleware), listens for the stop signals itself
//! ([`stop_signal`]), and on SIGTERM pauses accepting, waits for the count to reach zero and only then
//! stops its servers ([`stop`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service, ServiceRequest, Transform, forward_ready};
use futures::future::{Ready, ready};

/// How many requests the servers are answering (every listener's, from routing to the answer). As a
/// middleware (`App::wrap`), it counts every request of the app it wraps.
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

impl<S> Transform<S, ServiceRequest> for RequestsUnderWay
where
    S: Service<ServiceRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Transform = CountedService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CountedService {
            service,
            under_way: self.clone(),
        }))
    }
}

/// The service [`RequestsUnderWay`] wraps around the application.
#[derive(Debug)]
pub struct CountedService<S> {
    service: S,
    under_way: RequestsUnderWay,
}

impl<S> Service<ServiceRequest> for CountedService<S>
where
    S: Service<ServiceRequest>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let counted = self.under_way.enter();
        Counted {
            answer: self.service.call(request),
            counted: Some(counted),
        }
    }
}

pin_project_lite::pin_project! {
    /// An answer being made, counted until it is ready (or dropped).
    pub struct Counted<F> {
        #[pin]
        answer: F,
        counted: Option<UnderWay>,
    }
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        this.counted.take();
        Poll::Ready(answer)
    }
}

/// How a stop signal asks the service to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// SIGTERM, as systemd and Kubernetes send: no new connections, the requests under way finish.
    Graceful,
    /// SIGINT or SIGQUIT: stop now, as actix-web does.
    Now,
}

/// The first stop signal. Never resolves when the signals cannot be listened for (it says so in the log).
pub async fn stop_signal() -> StopKind {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind| {
        signal(kind).map_err(|err| tracing::warn!(error = %err, "cannot listen for a stop signal"))
    };
    let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
        listen(SignalKind::terminate()),
        listen(SignalKind::interrupt()),
        listen(SignalKind::quit()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {
            tracing::info!("SIGTERM received; finishing the requests under way");
            StopKind::Graceful
        }
        _ = int.recv() => {
            tracing::info!("SIGINT received; stopping now");
            StopKind::Now
        }
        _ = quit.recv() => {
            tracing::info!("SIGQUIT received; stopping now");
            StopKind::Now
        }
    }
}

/// Stops `servers`. Gracefully: they all stop accepting first, which keeps their workers, and the
/// requests under way finish (within `within`) before any worker is told to stop. A server's own future
/// carries out these commands, so it must be awaited alongside.
pub async fn stop(
    servers: &[&ServerHandle],
    under_way: &RequestsUnderWay,
    within: Duration,
    kind: StopKind,
) {
    let graceful = kind == StopKind::Graceful;
    if graceful {
        for server in servers {
            server.pause().await;
        }
        if !under_way.drained(within).await {
            tracing::warn!(
                requests = under_way.count(),
                "requests still under way when the time to finish them ran out"
            );
        }
    }
    for server in servers {
        server.stop(graceful).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, HttpResponse, test, web};

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

    #[actix_web::test]
    async fn the_middleware_counts_a_request_until_its_answer_is_ready() {
        let under_way = RequestsUnderWay::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(Some(released)));
        let app = test::init_service(App::new().wrap(under_way.clone()).route(
            "/",
            web::get().to(move || {
                let released = released.lock().unwrap().take();
                async move {
                    if let Some(released) = released {
                        let _ = released.await;
                    }
                    HttpResponse::Ok().finish()
                }
            }),
        ))
        .await;
        let answer = app.call(test::TestRequest::get().uri("/").to_request());
        let mut answer = std::pin::pin!(answer);
        assert!(futures::poll!(answer.as_mut()).is_pending());
        assert_eq!(under_way.count(), 1, "counted while the handler waits");
        release.send(()).unwrap();
        let answer = answer.await.unwrap();
        assert!(answer.status().is_success());
        assert_eq!(under_way.count(), 0, "no longer counted once answered");
    }
}
