//! Building the application (listener bound, store ready) apart from running it, so tests can start the
//! real thing on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::api::{AcceptedTokens, CacheSettings, Proxy, ProxySettings, ResponseCache};
use crate::config::Settings;
use crate::domain::UnixTime;
use crate::linked::{CHANGE_POLL, LinkedAccounts, LinkedSettings};
use crate::spotify::WebApi;
use crate::spotify::{SpotifyAccounts, http_client};
use crate::state::AppState;
use crate::store::{PoolSettings, Store};
use crate::telemetry::RequestSpan;
use crate::{admin, api, oauth, routes};

/// How often expired pending authorizations, codes and tokens are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);

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
    store: Store,
    proxy: Arc<Proxy>,
}

impl Application {
    /// Binds the listener, prepares the store (migrating if asked) and the Spotify client.
    pub async fn build(settings: Settings, migrations: Migrations) -> anyhow::Result<Self> {
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
        let spotify_accounts = SpotifyAccounts::new(
            &settings.spotify,
            &settings.spotify_callback_url(bound),
            http.clone(),
        )
        .context("spotify urls")?;
        let linked = Arc::new(LinkedAccounts::new(
            store.clone(),
            spotify_accounts.clone(),
            LinkedSettings {
                refresh_margin_s: settings.spotify.refresh_margin_s,
                refresh_lease_s: settings.spotify.refresh_lease_s,
                max_cached_tokens: settings.cache.max_links,
            },
        ));
        let proxy = Arc::new(Proxy::new(
            linked,
            WebApi::new(
                http.clone(),
                &settings.spotify.api_url,
                settings.proxy.max_retries,
            ),
            ResponseCache::new(CacheSettings {
                max_entries: settings.cache.max_entries,
                max_bytes: settings.cache.max_bytes,
            }),
            ProxySettings {
                default_deadline: Duration::from_millis(settings.proxy.default_deadline_ms),
                max_deadline: Duration::from_millis(settings.proxy.max_deadline_ms),
                fetch_budget: Duration::from_millis(settings.proxy.fetch_budget_ms),
                max_retry_after_s: settings.proxy.max_retry_after_s,
                freshness: settings.cache.fresh_s,
            },
        ));
        let shutdown_timeout = settings.server.shutdown_timeout_s;
        let state = web::Data::new(Arc::new(AppState {
            store: store.clone(),
            spotify_accounts,
            proxy: proxy.clone(),
            spotify_http: http,
            spotify_api_url: settings.spotify.api_url,
            alexa: settings.alexa,
            service_tokens: AcceptedTokens::new(&settings.auth.service_tokens),
            admin_tokens: AcceptedTokens::new(&settings.auth.admin_tokens),
            linking_guard: oauth::LinkingGuard::new(
                &settings.oauth,
                settings.server.public_url.as_ref(),
            ),
            oauth: settings.oauth,
            max_body_bytes: settings.server.max_body_bytes,
        }));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(state.clone())
                .configure(routes::configure)
                .configure(oauth::configure)
                .configure(api::configure)
                .configure(admin::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .context("starting the http server")?
        .shutdown_timeout(shutdown_timeout)
        .run();
        tracing::info!(address = %format!("http://{bound}"), "broker listening");
        Ok(Self {
            port,
            server,
            store,
            proxy,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server (gracefully or not) from elsewhere, as SIGTERM does.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, letting in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let purge = tokio::spawn(purge_periodically(self.store.clone()));
        let feed = tokio::spawn(follow_other_replicas(
            self.store.clone(),
            self.proxy.clone(),
        ));
        let result = self.server.await;
        purge.abort();
        feed.abort();
        self.store.close().await;
        result
    }
}

/// Opens the store named by `database.url` (lazily: no connection is made here).
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let keys = Arc::new(settings.key_ring()?);
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_s),
    };
    Ok(Store::connect_lazy(&settings.database_url(), &pool, keys)?)
}

async fn purge_periodically(store: Store) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    loop {
        ticker.tick().await;
        match store.purge_expired(UnixTime::now()).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "purged expired authorizations and tokens"),
            Err(err) => tracing::warn!(error = ?err, "purging expired rows failed"),
        }
    }
}

/// How far the change feed looks back past the newest change it saw: covers writes in the same second and
/// replicas whose clocks disagree by a few seconds.
const CLOCK_SKEW_S: i64 = 5;

/// Drops what this replica holds in memory about links that changed elsewhere (refreshed, relinked,
/// revoked), and adopts a rate-limit pause another replica recorded, within about [`CHANGE_POLL`].
async fn follow_other_replicas(store: Store, proxy: Arc<Proxy>) {
    let mut since = UnixTime::now().plus_secs(-CLOCK_SKEW_S);
    let mut ticker = tokio::time::interval(CHANGE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match apply_link_changes(&store, &proxy, since).await {
            Ok(Some(newest)) => since = since.max(newest.plus_secs(-CLOCK_SKEW_S)),
            Ok(None) => {}
            Err(err) => tracing::debug!(error = ?err, "reading link changes failed"),
        }
        match store.rate_limit_pause_until().await {
            Ok(Some(until_ms)) => proxy
                .cooldown()
                .extend_to(u64::try_from(until_ms).unwrap_or(0)),
            Ok(None) => {}
            Err(err) => tracing::debug!(error = ?err, "reading the rate-limit pause failed"),
        }
    }
}

/// Links read per query of the change feed.
const CHANGE_PAGE: i64 = 500;

/// Reads every link changed since `since`, page by page, and drops what memory holds about each: its
/// broker tokens always (a token may have been revoked), its state when the stored version is newer.
/// Returns the newest change time seen.
async fn apply_link_changes(
    store: &Store,
    proxy: &Proxy,
    since: UnixTime,
) -> Result<Option<UnixTime>, crate::store::StoreError> {
    let mut cursor = (since, String::new());
    let mut newest = None;
    loop {
        let page = store
            .links_changed_after(cursor.0, &cursor.1, CHANGE_PAGE)
            .await?;
        for change in &page {
            proxy.linked().forget_tokens(change.link_id).await;
            if proxy
                .linked()
                .on_changed(&change.link_id, change.token_version)
                .await
            {
                proxy.forget_link(&change.link_id).await;
            }
            newest = newest.max(Some(change.updated_at));
        }
        match page.last() {
            Some(last) if page.len() as i64 == CHANGE_PAGE => {
                cursor = (last.updated_at, last.link_id.to_string());
            }
            _ => return Ok(newest),
        }
    }
}
