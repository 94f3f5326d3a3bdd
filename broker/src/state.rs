//! What every request handler shares: configuration, the store, the link owner and the Spotify client.

use std::sync::Arc;

use crate::config::{AlexaSettings, OAuthSettings};
use crate::credentials::AcceptedTokens;
use crate::lifecycle::Lifecycle;
use crate::linked::LinkedAccounts;
use crate::proxy::Proxy;
use crate::spotify::SpotifyAccounts;
use crate::store::Store;

/// The application's shared state, behind `web::Data`.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    /// Every change to a link goes through here.
    pub lifecycle: Arc<Lifecycle>,
    pub linked: Arc<LinkedAccounts>,
    pub proxy: Arc<Proxy>,
    pub spotify_accounts: SpotifyAccounts,
    pub spotify_http: reqwest::Client,
    pub spotify_api_url: url::Url,
    pub alexa: AlexaSettings,
    /// `auth.service_tokens`: what the skill may present.
    pub service_tokens: AcceptedTokens,
    /// `auth.admin_tokens`: what operators may present on `/admin`.
    pub admin_tokens: AcceptedTokens,
    pub oauth: OAuthSettings,
    /// The binding cookie and the caps of the browser leg of linking.
    pub linking_guard: crate::oauth::LinkingGuard,
    /// The cap on failed client authentications at `/oauth/token` and `/oauth/revoke`.
    pub client_auth_limits: crate::oauth::ClientAuthLimits,
    pub max_body_bytes: usize,
    /// Whether `GET /metrics` renders (`metrics.enabled`).
    pub metrics_enabled: bool,
}

pub type SharedState = actix_web::web::Data<Arc<AppState>>;
