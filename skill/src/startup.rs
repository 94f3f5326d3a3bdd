//! Building the application (binding the listener, wiring its parts) separately from running it.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use broker_proto::limits::HeaderLimit;
use broker_proto::shutdown::{self, RequestsUnderWay};
use tracing_actix_web::TracingLogger;

use crate::broker::BrokerClient;
use crate::configuration::{Settings, SignatureChecks};
use crate::conversation::Conversation;
use crate::error::SkillError;
use crate::routes;
use crate::verify::{RequestVerifier, VerifierParts};

/// What every request handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Checks that requests come from Alexa.
    pub verifier: RequestVerifier,
    /// Answers them.
    pub conversation: Conversation,
    /// How long the skill may take per request.
    pub time_budget: Duration,
}

/// How long the requests under way get to finish after SIGTERM: more than Alexa waits for an answer.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A built, bound, not yet running skill.
pub struct Application {
    address: SocketAddr,
    server: Server,
    /// Requests under way, waited for on SIGTERM.
    under_way: RequestsUnderWay,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the production skill: web PKI roots, real certificate downloads, the system clock.
    /// Must be called inside a Tokio runtime.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let parts = VerifierParts::production(settings.cert_fetch_timeout)
            .context("building the certificate fetcher")?;
        Self::build_with(settings, parts)
    }

    /// Builds the skill with injected verification parts (tests trust their own CA and move the
    /// clock). Binds `settings.bind` (port 0 picks a free port). Must be called inside a Tokio runtime.
    pub fn build_with(settings: Settings, parts: VerifierParts) -> anyhow::Result<Self> {
        if settings.signature_checks == SignatureChecks::DisabledForDevelopment {
            tracing::warn!(
                "!!! alexa.verify_signatures = false: requests are NOT checked for Alexa's signature. \
                 Anyone who can reach this endpoint can impersonate Alexa. Local development only !!!"
            );
        }
        if broker_proto::metrics::recorder().is_none() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics will answer unavailable"
            );
        }
        crate::telemetry::metrics::describe();
        let clock = parts.clock.clone();
        let verifier =
            RequestVerifier::new(settings.signature_checks, settings.skill_id.clone(), parts);
        let broker = BrokerClient::new(settings.broker_url.clone(), settings.service_token.clone())
            .context("building the broker client")?;
        let conversation = Conversation::new(broker, settings.relink_reminder_window, clock);
        let state = web::Data::new(AppState {
            verifier,
            conversation,
            time_budget: settings.time_budget,
        });

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding server.bind = {}", settings.bind))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let header_limit =
            HeaderLimit::new(settings.max_header_bytes).rendered_by(SkillError::refuse_oversized);
        let under_way = RequestsUnderWay::default();
        let counted = under_way.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(counted.clone())
                .wrap(header_limit)
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .service(only("/alexa", Method::POST, routes::alexa))
                .service(only("/healthz", Method::GET, routes::healthz))
                .service(only("/metrics", Method::GET, routes::metrics))
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(SkillError::NotFound)
                }))
        })
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs())
        .listen(listener)
        .context("starting the HTTP server")?
        .disable_signals()
        .run();
        Ok(Self {
            address,
            server,
            under_way,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until SIGTERM (no new connections; the requests under way finish, within 10 s) or
    /// SIGINT/SIGQUIT (at once).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(address = %self.address, "skill listening");
        let handle = self.server.handle();
        let mut server = self.server;
        tokio::select! {
            result = &mut server => result,
            kind = shutdown::stop_signal() => {
                let servers = [&handle];
                let stop = shutdown::stop(&servers, &self.under_way, SHUTDOWN_TIMEOUT, kind);
                tokio::join!(stop, server).1
            }
        }
    }
}

/// `path` served by `handler` for `method`; any other method answers 405 with the JSON error body.
fn only<F, Args>(path: &str, method: Method, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::route().method(method.clone()).to(handler))
        .default_service(web::to(move || {
            let allow = method.clone();
            async move { Err::<HttpResponse, _>(SkillError::MethodNotAllowed(allow)) }
        }))
}
