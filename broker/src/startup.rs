//! Building the application (listener bound, store ready) apart from running it, so tests can start the
//! real thing on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use broker_proto::limits::HeaderLimit;
use broker_proto::shutdown::{self, RequestsUnderWay};

use crate::background::Background;
use crate::config::Settings;
use crate::credentials::AcceptedTokens;
use crate::lifecycle::{Lifecycle, ReplicaMemory};
use crate::linked::{LinkedAccounts, LinkedSettings, RefreshTasks, TokenMemory};
use crate::proxy::{CacheSettings, Cooldown, Fetched, Proxy, ProxySettings, ResponseCache};
use crate::routes::Listener;
use crate::spotify::WebApi;
use crate::spotify::{ApiConnections, SpotifyAccounts, http_client};
use crate::state::AppState;
use crate::store::{PoolSettings, Store};
use crate::{oauth, routes};

/// Whether `build` applies pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Apply,
    Skip,
}

/// A built broker: bound, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    /// The admin listener (`server.admin_bind`), with its port.
    admin: Option<(u16, Server)>,
    store: Store,
    lifecycle: Arc<Lifecycle>,
    cooldown: Arc<Cooldown>,
    refreshes: RefreshTasks,
    /// How long shutdown waits for refreshes under way (a lease's length).
    refresh_drain: Duration,
    /// How often links are counted by status for the metrics.
    link_count_interval: Duration,
    /// Requests under way on both listeners, waited for on SIGTERM.
    under_way: RequestsUnderWay,
    /// `server.shutdown_timeout_s`.
    shutdown_timeout: Duration,
}

impl Application {
    /// Binds the listener, prepares the store (migrating if asked) and the Spotify client.
    pub async fn build(settings: Settings, migrations: Migrations) -> anyhow::Result<Self> {
        if settings.metrics.enabled {
            if broker_proto::metrics::recorder().is_none() {
                tracing::warn!(
                    "another metrics recorder is installed; /metrics will answer not_found"
                );
            }
            crate::telemetry::metrics::describe();
        }
        let store = open_store(&settings)?;
        if migrations == Migrations::Apply {
            store.migrate().await.context("applying migrations")?;
        }
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("server.bind: cannot listen on {}", settings.server.bind))?;
        let bound = listener.local_addr().context("reading the bound address")?;
        let port = bound.port();
        let http = http_client(Duration::from_millis(settings.spotify.timeout_ms))
            .context("building the spotify http client")?;
        // A token call may take most of the refresh lease: giving up earlier could drop an answer in
        // which Spotify already rotated the refresh token.
        let refresh_lease =
            Duration::from_secs(u64::try_from(settings.spotify.refresh_lease_s).unwrap_or(1));
        let token_http =
            http_client(refresh_lease).context("building the spotify accounts http client")?;
        let spotify_accounts = SpotifyAccounts::new(
            &settings.spotify,
            &settings.spotify_callback_url(bound),
            token_http,
        )
        .context("spotify urls")?;
        let memory = Arc::new(TokenMemory::new(settings.cache.max_links));
        let cache: Arc<ResponseCache<Fetched>> = Arc::new(ResponseCache::new(CacheSettings {
            max_entries: settings.cache.max_entries,
            max_bytes: settings.cache.max_bytes,
        }));
        let memories: Vec<Arc<dyn ReplicaMemory>> = vec![memory.clone(), cache.clone()];
        let lifecycle = Arc::new(Lifecycle::new(store.clone(), memories));
        let refreshes = RefreshTasks::on_current_runtime();
        let linked = Arc::new(LinkedAccounts::new(
            Arc::clone(&lifecycle),
            memory,
            spotify_accounts.clone(),
            refreshes.clone(),
            LinkedSettings {
                refresh_margin_s: settings.spotify.refresh_margin_s,
                refresh_lease_s: settings.spotify.refresh_lease_s,
                invalid_grant_confirm: Duration::from_millis(
                    settings.spotify.invalid_grant_confirm_ms,
                ),
                relink_incident_threshold: settings.spotify.relink_incident_threshold,
                max_cached_tokens: settings.cache.max_links,
            },
        ));
        let cooldown = Arc::new(Cooldown::shared(
            store.clone(),
            Duration::from_secs(settings.proxy.app_incident_probe_s),
        ));
        let proxy = Arc::new(Proxy::new(
            Arc::clone(&linked),
            Arc::clone(&lifecycle),
            WebApi::new(
                ApiConnections::new(
                    &settings.spotify.api_url,
                    Duration::from_millis(settings.spotify.timeout_ms),
                    settings.spotify.http_version,
                )
                .context("building the spotify web api client")?,
                &settings.spotify.api_url,
                Duration::from_millis(settings.spotify.timeout_ms),
                settings.proxy.max_retries,
            ),
            cache,
            Arc::clone(&cooldown),
            ProxySettings {
                default_deadline: Duration::from_millis(settings.proxy.default_deadline_ms),
                max_deadline: Duration::from_millis(settings.proxy.max_deadline_ms),
                fetch_budget: Duration::from_millis(settings.proxy.fetch_budget_ms),
                max_retry_after_s: settings.proxy.max_retry_after_s,
                freshness: settings.cache.fresh_s,
            },
        ));
        let shutdown_timeout = settings.server.shutdown_timeout_s;
        let header_limit = HeaderLimit::new(settings.server.max_header_bytes)
            .rendered_by(routes::refuse_oversized);
        let state = web::Data::new(Arc::new(AppState {
            store: store.clone(),
            lifecycle: Arc::clone(&lifecycle),
            linked,
            proxy,
            spotify_accounts,
            spotify_http: http,
            spotify_api_url: settings.spotify.api_url,
            alexa: settings.alexa,
            service_tokens: AcceptedTokens::new(&settings.auth.service_tokens),
            admin_tokens: AcceptedTokens::new(&settings.auth.admin_tokens),
            linking_guard: oauth::LinkingGuard::new(
                &settings.oauth,
                settings.server.public_url.as_ref(),
            ),
            client_auth_limits: oauth::ClientAuthLimits::new(&settings.oauth),
            oauth: settings.oauth,
            max_body_bytes: settings.server.max_body_bytes,
            metrics_enabled: settings.metrics.enabled,
        }));
        let admin_listener = settings
            .server
            .admin_bind
            .as_deref()
            .map(|address| {
                TcpListener::bind(address)
                    .with_context(|| format!("server.admin_bind: cannot listen on {address}"))
            })
            .transpose()?;
        let main_routes = if admin_listener.is_some() {
            Listener::Public
        } else {
            Listener::Combined
        };
        let under_way = RequestsUnderWay::default();
        let server = serve(
            listener,
            &state,
            main_routes,
            header_limit,
            shutdown_timeout,
            &under_way,
        )?;
        tracing::info!(address = %format!("http://{bound}"), "broker listening");
        let admin = match admin_listener {
            Some(listener) => {
                let bound = listener.local_addr().context("reading the admin address")?;
                let server = serve(
                    listener,
                    &state,
                    Listener::Admin,
                    header_limit,
                    shutdown_timeout,
                    &under_way,
                )?;
                tracing::info!(address = %format!("http://{bound}"), "broker admin listening");
                Some((bound.port(), server))
            }
            None => None,
        };
        Ok(Self {
            port,
            server,
            admin,
            store,
            lifecycle,
            cooldown,
            refreshes,
            refresh_drain: refresh_lease,
            link_count_interval: Duration::from_secs(settings.metrics.links_refresh_s),
            under_way,
            shutdown_timeout: Duration::from_secs(shutdown_timeout),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin listener's port, when `server.admin_bind` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// A handle that stops the server (gracefully or not) from elsewhere, as SIGTERM does.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM (no new connections; the requests under way finish, within
    /// `server.shutdown_timeout_s`) or SIGINT/SIGQUIT (at once), then waits for refreshes under way to
    /// store what Spotify answered before the store closes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let background = Background::start(
            self.store.clone(),
            self.lifecycle,
            self.cooldown,
            self.link_count_interval,
        );
        let admin = self.admin.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let main = self.server.handle();
        let mut server = self.server;
        let result = tokio::select! {
            result = &mut server => result,
            kind = shutdown::stop_signal() => {
                // Both listeners stop accepting, and the requests under way on either finish, before
                // either server stops.
                let listeners: Vec<_> = std::iter::once(&main)
                    .chain(admin.as_ref().map(|(handle, _)| handle))
                    .collect();
                let stop = shutdown::stop(&listeners, &self.under_way, self.shutdown_timeout, kind);
                tokio::join!(stop, server).1
            }
        };
        // The main listener's end (SIGTERM, or its handle) ends the admin listener too.
        if let Some((handle, task)) = admin {
            handle.stop(true).await;
            if let Ok(Err(err)) = task.await {
                tracing::warn!(error = %err, "the admin listener failed");
            }
        }
        if !self.refreshes.drain(self.refresh_drain).await {
            tracing::warn!("a spotify refresh was still running at shutdown");
        }
        background.stop();
        self.store.close().await;
        result
    }
}

/// Starts serving `routes` on `listener` (the server runs once awaited). It does not listen for
/// signals itself (see `shutdown::stop_signal`), and counts every request in `under_way`. Requests over
/// the header limit are refused before routing, and still logged and counted.
fn serve(
    listener: TcpListener,
    state: &web::Data<Arc<AppState>>,
    routes: Listener,
    header_limit: HeaderLimit,
    shutdown_timeout: u64,
    under_way: &RequestsUnderWay,
) -> anyhow::Result<Server> {
    let state = state.clone();
    let under_way = under_way.clone();
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(under_way.clone())
            .wrap(header_limit)
            .wrap(actix_web::middleware::from_fn(crate::telemetry::access_log))
            .app_data(state.clone())
            .configure(routes::configure(routes))
            .default_service(web::to(routes::not_found))
    })
    .listen(listener)
    .context("starting the http server")?
    .shutdown_timeout(shutdown_timeout)
    .disable_signals()
    .run())
}

/// Opens the store named by `database.url` (lazily: no connection is made here).
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let keys = Arc::new(settings.key_ring()?);
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_s),
        statement_timeout: (settings.database.statement_timeout_ms > 0)
            .then(|| Duration::from_millis(settings.database.statement_timeout_ms)),
    };
    Ok(Store::connect_lazy(&settings.database_url(), &pool, keys)?)
}
