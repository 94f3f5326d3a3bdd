//! A TCP forwarder between the broker and its Postgres server that a test controls, to play a database
//! restart (every connection cut, new ones refused for a while) or a network partition (connections
//! accepted and held, not a byte forwarded) without touching the Postgres server other tests share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards both ways.
    Forward,
    /// Cuts every open connection and closes each new one at once (a server restarting: connection reset,
    /// then nothing listening).
    Refuse,
    /// Keeps every connection open but forwards nothing (a partition: packets silently dropped).
    Blackhole,
}

/// A running forwarder on a free loopback port; stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    accepted: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the tcp proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, watcher) = watch::channel(ProxyMode::Forward);
        let accepted = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                *counter.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                tokio::spawn(serve(inbound, upstream, watcher.clone()));
            }
        });
        Self {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// Switches mode; `Refuse` and `Blackhole` apply to open connections at once.
    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        *self.accepted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `postgres://…` of `server_url` with host and port replaced by the proxy's.
    pub fn postgres_url(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).expect("a database url");
        url.set_host(Some("127.0.0.1")).expect("a host");
        url.set_port(Some(self.addr.port())).expect("a port");
        url.to_string()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(ProxyMode::Refuse);
    }
}

/// One client connection: forwarded while the mode is `Forward`, closed on `Refuse`, frozen on
/// `Blackhole` (and closed when that ends).
async fn serve(mut inbound: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<ProxyMode>) {
    let current = *mode.borrow_and_update();
    match current {
        ProxyMode::Refuse => {
            let _ = inbound.shutdown().await;
            return;
        }
        ProxyMode::Blackhole => {
            hold(&mut mode).await;
            return;
        }
        ProxyMode::Forward => {}
    }
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    let forwarding = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
    tokio::pin!(forwarding);
    loop {
        tokio::select! {
            _ = &mut forwarding => return,
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *mode.borrow_and_update();
                match now {
                    ProxyMode::Forward => {}
                    ProxyMode::Refuse => return,
                    ProxyMode::Blackhole => {
                        hold(&mut mode).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Holds a connection without reading or writing until the mode changes, then drops it (closing it): a
/// connection frozen by a partition does not come back, as one whose peer gave up on it.
async fn hold(mode: &mut watch::Receiver<ProxyMode>) {
    while mode.changed().await.is_ok() {
        if *mode.borrow_and_update() != ProxyMode::Blackhole {
            return;
        }
    }
}
