//! The Web API's connections: one pool per worker thread, for its one origin.
//!
//! Every actix worker runs its own single-threaded runtime, and a connection is driven by the runtime
//! that opened it; with a pool per thread, a worker's calls stay on its own connections and never cross
//! threads. The pool is hyper's connection API with the least bookkeeping a single origin needs: a stack
//! of idle HTTP/1.1 connections and at most one shared HTTP/2 connection. hyper's general-purpose pool
//! (hyper-util's legacy client) keyed every checkout and return by scheme and host through SipHash, and
//! wrapped each connection and answer in futures and extensions of its own: about 10,000 instructions per
//! call, a third of the HTTP client's share of an uncached answer.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::http::response::Parts;
use hyper::{Request, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;
use tower_service::Service;

use crate::config::HttpVersion;

/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request got no answer from a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// Connecting or the TLS handshake failed.
    #[error("connecting failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The connection refused the HTTP handshake, closed, or broke while the request was in flight.
    #[error("the connection failed")]
    Http(#[source] hyper::Error),
    /// The answer's body could not be read to its end.
    #[error("the answer could not be read")]
    Body(#[source] hyper::Error),
}

/// The Web API's connection pools, one per thread (see the module's documentation).
#[derive(Debug, Clone)]
pub struct ApiConnections {
    connector: HttpsConnector<HttpConnector>,
    /// `{scheme}://{authority}` of `spotify.api_url`: where every connection goes.
    origin: Uri,
    /// Every connection speaks HTTP/2 (`spotify.http_version = "http2"`).
    http2_only: bool,
    /// Tells this instance's pools from another broker's in the same process (the tests run several).
    id: u64,
}

thread_local! {
    /// This thread's pools, by [`ApiConnections`] id (one per broker in the process, so a short list).
    static POOLS: RefCell<Vec<(u64, Arc<Pool>)>> = const { RefCell::new(Vec::new()) };
}

/// One thread's connections to the origin. Only its thread uses it, so its locks are never contended;
/// they are there because a call's future must be `Send` (a call that did move would still be right, on
/// another thread's connections).
#[derive(Default)]
struct Pool {
    /// HTTP/1.1 connections at rest, the most recently used last.
    idle: Mutex<Vec<IdleConnection>>,
    /// The HTTP/2 connection all of this thread's calls share, once one is open.
    shared: Mutex<Option<http2::SendRequest<Full<Bytes>>>>,
    /// Held while an HTTP/2-only pool opens its connection, so that a burst of calls opens one.
    opening: tokio::sync::Mutex<()>,
}

struct IdleConnection {
    sender: http1::SendRequest<Full<Bytes>>,
    since: Instant,
}

enum Pooled {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl ApiConnections {
    /// Pools for calls to `api_url` that may take `timeout` (connecting gives up sooner, as
    /// [`super::http_client`]'s does), speaking TLS with the webpki roots to an `https` origin and plain
    /// HTTP to an `http` one (the sandbox, the benchmark's upstream), in the HTTP versions `version`
    /// allows. The timeout of a whole call is [`super::WebApi`]'s.
    ///
    /// Over HTTP/2 a worker's concurrent calls share one connection: one write carries many requests and
    /// one read many answers, where HTTP/1.1 needs a connection, a write and a read per call in flight.
    pub fn new(
        api_url: &url::Url,
        timeout: Duration,
        version: HttpVersion,
    ) -> Result<Self, NewConnectionsError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let origin = Uri::try_from(&api_url[..url::Position::BeforePath])?;
        if origin.scheme().is_none() || origin.authority().is_none() {
            return Err(NewConnectionsError::NoOrigin);
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(super::connect_timeout(timeout)));
        let builder = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http();
        // The versions offered in the TLS handshake (ALPN); a plain connection speaks HTTP/1.1 unless
        // the pool is HTTP/2 only.
        let connector = match version {
            HttpVersion::Auto => builder.enable_all_versions().wrap_connector(http),
            HttpVersion::Http1 => builder.enable_http1().wrap_connector(http),
            HttpVersion::Http2 => builder.enable_http2().wrap_connector(http),
        };
        Ok(Self {
            connector,
            origin,
            http2_only: version == HttpVersion::Http2,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Sends `request` (its URI a path and query) and reads the whole answer, on a pooled connection
    /// when one is at rest, else on a new one. A request that never left, because the pooled connection
    /// it was given had closed before writing, goes out again on another; nothing that may have reached
    /// the server is sent twice, so this is safe for player commands too.
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Parts, Bytes), ConnectionError> {
        let pool = self.pool();
        loop {
            let (connection, fresh) = match pool.checkout() {
                Some(connection) => (connection, false),
                // Boxed: opening (TCP, TLS, an HTTP handshake) is rare, and its 6.5 KiB of state
                // inline would be copied with every call's future, answered from a pooled connection
                // or from the cache.
                None => (Box::pin(self.open(&pool)).await?, true),
            };
            let http2 = matches!(connection, Pooled::Http2(_));
            let sent = match connection {
                Pooled::Http1(mut sender) => {
                    if sender.ready().await.is_err() && !fresh {
                        continue;
                    }
                    let answer = sender.try_send_request(with_origin(request, None)).await;
                    answer.map(|response| (response, Some(sender)))
                }
                Pooled::Http2(mut sender) => {
                    let answer = sender
                        .try_send_request(with_origin(request, Some(&self.origin)))
                        .await;
                    answer.map(|response| (response, None))
                }
            };
            match sent {
                Ok((response, sender)) => {
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await.map_err(ConnectionError::Body)?;
                    if let Some(sender) = sender {
                        pool.release(sender);
                    }
                    return Ok((parts, body.to_bytes()));
                }
                Err(mut err) => match err.take_message() {
                    Some(unsent) if !fresh => {
                        // A shared HTTP/2 connection that hands a request back is going away (its
                        // handle closes only once its last stream ends): not offered again.
                        if http2 {
                            *lock(&pool.shared) = None;
                        }
                        request = unsent;
                    }
                    _ => return Err(ConnectionError::Http(err.into_error())),
                },
            }
        }
    }

    /// This thread's pool.
    fn pool(&self) -> Arc<Pool> {
        POOLS.with_borrow_mut(|pools| {
            if let Some((_, pool)) = pools.iter().find(|(id, _)| *id == self.id) {
                return Arc::clone(pool);
            }
            let pool = Arc::new(Pool::default());
            pools.push((self.id, Arc::clone(&pool)));
            pool
        })
    }

    /// A new connection: TCP, TLS for an `https` origin, then HTTP/2 if the pool speaks only that or the
    /// TLS handshake agreed on it, else HTTP/1.1. Its I/O runs as a task of this thread's runtime.
    async fn open(&self, pool: &Pool) -> Result<Pooled, ConnectionError> {
        let _opening = if self.http2_only {
            let guard = pool.opening.lock().await;
            if let Some(connection) = pool.checkout() {
                return Ok(connection);
            }
            Some(guard)
        } else {
            None
        };
        let io = self
            .connector
            .clone()
            .call(self.origin.clone())
            .await
            .map_err(ConnectionError::Connect)?;
        if self.http2_only || io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(ConnectionError::Http)?;
            tokio::spawn(connection);
            *lock(&pool.shared) = Some(sender.clone());
            Ok(Pooled::Http2(sender))
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(ConnectionError::Http)?;
            tokio::spawn(connection);
            Ok(Pooled::Http1(sender))
        }
    }
}

/// `request` with the scheme and authority of `origin` in its URI (HTTP/2 sends them as pseudo-headers),
/// or with neither (HTTP/1.1 sends an origin server only the path and query). A URI that would make
/// invalid is left as it is, for the connection to refuse: never sent to another path.
fn with_origin(request: Request<Full<Bytes>>, origin: Option<&Uri>) -> Request<Full<Bytes>> {
    let (scheme, authority) = (
        origin.and_then(Uri::scheme),
        origin.and_then(Uri::authority),
    );
    if request.uri().scheme() == scheme && request.uri().authority() == authority {
        return request;
    }
    let (mut head, body) = request.into_parts();
    let mut parts = head.uri.clone().into_parts();
    parts.scheme = scheme.cloned();
    parts.authority = authority.cloned();
    if let Ok(uri) = Uri::from_parts(parts) {
        head.uri = uri;
    }
    Request::from_parts(head, body)
}

impl Pool {
    /// A connection at rest: the shared HTTP/2 one, else the most recently used HTTP/1.1 one that is
    /// still open and not past [`IDLE_TIMEOUT`] (older ones are dropped, which closes them).
    fn checkout(&self) -> Option<Pooled> {
        {
            let mut shared = lock(&self.shared);
            match shared.as_ref() {
                Some(sender) if !sender.is_closed() => return Some(Pooled::Http2(sender.clone())),
                Some(_) => *shared = None,
                None => {}
            }
        }
        let mut idle = lock(&self.idle);
        while let Some(connection) = idle.pop() {
            if !connection.sender.is_closed() && connection.since.elapsed() < IDLE_TIMEOUT {
                return Some(Pooled::Http1(connection.sender));
            }
        }
        None
    }

    /// Puts an HTTP/1.1 connection whose answer was read to its end back at rest, and closes the
    /// longest-resting ones that are past [`IDLE_TIMEOUT`] or beyond [`super::IDLE_PER_HOST`] (the
    /// stack is ordered by when each came to rest).
    fn release(&self, sender: http1::SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let stale = idle
            .iter()
            .take_while(|connection| now - connection.since >= IDLE_TIMEOUT)
            .count();
        let excess = (idle.len() + 1).saturating_sub(super::IDLE_PER_HOST);
        idle.drain(..stale.max(excess));
        idle.push(IdleConnection { sender, since: now });
    }
}

/// The pool's state behind `mutex`; a thread that panicked holding it left it whole (every change is a
/// single push, pop or assignment).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the pools could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NewConnectionsError {
    #[error("spotify.api_url is not a URI")]
    Uri(#[from] hyper::http::uri::InvalidUri),
    #[error("spotify.api_url names no scheme and host")]
    NoOrigin,
    #[error("TLS could not be set up")]
    Tls(#[from] rustls::Error),
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use hyper::Method;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server does with each request it reads.
    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Answers, and keeps the connection open.
        Answer,
        /// Answers, then closes the connection.
        AnswerThenClose,
        /// Answers the first request of the server's life; closes every later one's connection unanswered.
        AnswerFirstOnly,
    }

    /// A plain HTTP/1.1 server that counts the connections it accepts and the requests it reads.
    struct Server {
        url: url::Url,
        connections: Arc<AtomicUsize>,
        requests: Arc<AtomicUsize>,
    }

    async fn server(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = (Arc::clone(&connections), Arc::clone(&requests));
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                counted.0.fetch_add(1, Ordering::SeqCst);
                let requests = Arc::clone(&counted.1);
                tokio::spawn(async move {
                    let mut read = Vec::new();
                    let mut buffer = [0u8; 1024];
                    loop {
                        while let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                            read.drain(..end + 4);
                            let seen = requests.fetch_add(1, Ordering::SeqCst);
                            if matches!(behaviour, Behaviour::AnswerFirstOnly) && seen > 0 {
                                return;
                            }
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                            if socket.write_all(answer).await.is_err() {
                                return;
                            }
                            if matches!(behaviour, Behaviour::AnswerThenClose) {
                                return;
                            }
                        }
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read.extend_from_slice(&buffer[..n]),
                        }
                    }
                });
            }
        });
        Server {
            url,
            connections,
            requests,
        }
    }

    impl Server {
        /// The connections accepted and the requests read so far.
        fn counts(&self) -> (usize, usize) {
            (
                self.connections.load(Ordering::SeqCst),
                self.requests.load(Ordering::SeqCst),
            )
        }
    }

    /// A test server and pools for it.
    async fn served(behaviour: Behaviour) -> (Server, ApiConnections) {
        let server = server(behaviour).await;
        let connections = connections_to(&server);
        (server, connections)
    }

    fn connections_to(server: &Server) -> ApiConnections {
        ApiConnections::new(&server.url, Duration::from_secs(1), HttpVersion::Http1).unwrap()
    }

    fn request(method: Method) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri("/v1/me/player")
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::CONTENT_LENGTH, "0")
            .body(Full::default())
            .unwrap()
    }

    #[tokio::test]
    async fn calls_in_turn_reuse_one_connection() {
        let (server, connections) = served(Behaviour::Answer).await;
        for _ in 0..5 {
            let (head, body) = connections.send(request(Method::GET)).await.unwrap();
            assert_eq!((head.status.as_u16(), &body[..]), (200, &b"{}"[..]));
        }
        assert_eq!(server.counts(), (1, 5), "connections, requests");
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_at_rest_is_not_used_again() {
        let (server, connections) = served(Behaviour::AnswerThenClose).await;
        for _ in 0..3 {
            connections.send(request(Method::PUT)).await.unwrap();
            // The server's close reaches the client's connection task while the connection rests.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.counts(), (3, 3), "connections, requests");
    }

    #[tokio::test]
    async fn a_connection_at_rest_past_the_idle_timeout_is_not_used_again() {
        let (server, connections) = served(Behaviour::Answer).await;
        connections.send(request(Method::GET)).await.unwrap();
        for resting in lock(&connections.pool().idle).iter_mut() {
            resting.since -= IDLE_TIMEOUT;
        }
        connections.send(request(Method::GET)).await.unwrap();
        assert_eq!(server.counts(), (2, 2), "connections, requests");
    }

    #[tokio::test]
    async fn a_request_that_reached_the_server_is_not_sent_again() {
        let (server, connections) = served(Behaviour::AnswerFirstOnly).await;
        connections.send(request(Method::GET)).await.unwrap();
        // On the pooled connection, the server reads the command and closes the connection unanswered:
        // skipping a track twice would be worse than reporting the failure.
        let outcome = connections.send(request(Method::PUT)).await;
        assert!(
            matches!(outcome, Err(ConnectionError::Http(_))),
            "{outcome:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.counts(), (1, 2), "connections, requests");
    }

    #[tokio::test]
    async fn each_instance_has_pools_of_its_own() {
        let (first, second) = (
            server(Behaviour::Answer).await,
            server(Behaviour::Answer).await,
        );
        let (to_first, to_second) = (connections_to(&first), connections_to(&second));
        for _ in 0..2 {
            to_first.send(request(Method::GET)).await.unwrap();
            to_second.send(request(Method::GET)).await.unwrap();
        }
        for server in [first, second] {
            assert_eq!(server.counts(), (1, 2), "connections, requests");
        }
    }

    #[test]
    fn http1_sends_the_path_and_http2_the_origin_too() {
        let api_url = url::Url::parse("https://api.spotify.com:8443/base").unwrap();
        let connections =
            ApiConnections::new(&api_url, Duration::from_secs(1), HttpVersion::Auto).unwrap();
        let request = || Request::get("/base/v1/me?market=US").body(Full::default());
        let absolute = with_origin(request().unwrap(), Some(&connections.origin));
        assert_eq!(
            absolute.uri(),
            "https://api.spotify.com:8443/base/v1/me?market=US"
        );
        // A request taken back from an HTTP/2 connection may go out again over HTTP/1.1.
        assert_eq!(with_origin(absolute, None).uri(), "/base/v1/me?market=US");
    }
}
