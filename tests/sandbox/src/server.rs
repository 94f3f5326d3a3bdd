//! Building the sandbox server on a listener (port 0 allowed) and running it in the background.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tokio::task::JoinHandle;

use crate::client::SandboxClient;
use crate::config::SandboxConfig;
use crate::routes;
use crate::state::Sandbox;

/// Whether the server reacts to SIGINT/SIGTERM itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    /// Stop on Ctrl-C / SIGTERM (the `serve` command).
    Handle,
    /// Leave signals alone (in-process use by tests).
    Ignore,
}

/// A bound, not yet running sandbox server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    base_url: String,
    state: web::Data<Sandbox>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// An `on_connect` hook that sends each write at once. actix-http sets `TCP_NODELAY` on HTTP/1.1
/// connections itself but not on HTTP/2 ones, whose small frames Nagle's algorithm would otherwise hold
/// until the client's delayed ACK (40 ms a call).
pub fn send_at_once(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = stream.set_nodelay(true);
    }
}

impl Application {
    /// Binds `bind` and builds the server over a fresh state seeded from `config`.
    pub fn build(config: &SandboxConfig, bind: &str, signals: Signals) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let base_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let state = web::Data::new(Sandbox::new(config, &base_url));
        let app_state = state.clone();
        let counted = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(routes::middleware::layer))
                .configure(routes::configure)
        })
        .on_connect(move |connection, extensions| {
            counted.counters.connection();
            send_at_once(connection, extensions);
        })
        .workers(config.workers.max(1))
        .shutdown_timeout(1)
        // HTTP/1.1, and HTTP/2 to a client that opens with its preface (h2c), as a broker with
        // `spotify.http_version = "http2"` does.
        .listen_auto_h2c(listener)
        .context("starting the HTTP server")?;
        if signals == Signals::Ignore {
            server = server.disable_signals();
        }
        Ok(Self {
            server: server.run(),
            addr,
            base_url,
            state,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:<port>` unless a public URL was configured).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Runs until stopped (by a signal when built with [`Signals::Handle`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A sandbox running in the background of the current tokio runtime.
#[derive(Debug)]
pub struct RunningSandbox {
    /// Base URL, e.g. `http://127.0.0.1:41234`; use it as both accounts and API URL.
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Typed client for the control API.
    pub client: SandboxClient,
    /// The client id the sandbox accepts.
    pub client_id: String,
    /// The client secret the sandbox accepts.
    pub client_secret: String,
    state: web::Data<Sandbox>,
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningSandbox {
    /// `base_url` joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// In-process access to the state (for assertions that need no HTTP).
    pub fn state(&self) -> &Sandbox {
        &self.state
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.handle.stop(false).await;
        self.task
            .await
            .context("joining the sandbox server task")?
            .context("sandbox server")?;
        Ok(())
    }
}

/// Binds `bind` (e.g. `127.0.0.1:0`), starts the sandbox in the background and returns its handle.
pub async fn spawn(config: SandboxConfig, bind: &str) -> anyhow::Result<RunningSandbox> {
    let app = Application::build(&config, bind, Signals::Ignore)?;
    let handle = app.server.handle();
    let (addr, base_url, state) = (app.addr, app.base_url.clone(), app.state.clone());
    let task = tokio::spawn(app.run_until_stopped());
    let client = SandboxClient::new(&base_url)?;
    Ok(RunningSandbox {
        base_url,
        addr,
        client,
        client_id: config.client_id,
        client_secret: config.client_secret,
        state,
        handle,
        task,
    })
}
