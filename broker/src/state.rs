//! What every request handler shares: configuration, the store and the Spotify client.

use std::sync::Arc;

use crate::api::Proxy;
use crate::config::{AlexaSettings, AuthSettings, OAuthSettings};
use crate::spotify::SpotifyAccounts;
use crate::store::Store;

/// The application's shared state, behind `web::Data`.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub spotify_accounts: SpotifyAccounts,
    pub proxy: Arc<Proxy>,
    pub spotify_http: reqwest::Client,
    pub spotify_api_url: url::Url,
    pub alexa: AlexaSettings,
    pub auth: AuthSettings,
    pub oauth: OAuthSettings,
    pub max_body_bytes: usize,
}

pub type SharedState = actix_web::web::Data<Arc<AppState>>;
