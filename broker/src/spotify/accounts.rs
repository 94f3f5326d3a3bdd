//! Spotify's accounts service: the authorization URL, the code exchange and token refresh (via `oauth2`).

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::SpotifySettings;
use crate::domain::{CodeVerifier, OAuthState, UnixTime};

type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Tokens Spotify granted.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub access_expires_at: UnixTime,
    /// Absent when Spotify did not rotate the refresh token.
    pub refresh_token: Option<SecretString>,
    pub scopes: Option<String>,
}

/// How a token call failed, in the terms the broker acts on.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// Spotify says the grant is dead (`invalid_grant`): revoked, expired, or already used.
    #[error("spotify rejected the grant")]
    InvalidGrant,
    /// Spotify rejected the broker's own client credentials: an operator must fix the configuration.
    #[error("spotify rejected the broker's client credentials")]
    InvalidClient,
    /// Spotify answered 429.
    #[error("spotify rate limited the token call")]
    RateLimited,
    /// Timeout, connection failure, 5xx or an unreadable answer: worth retrying later.
    #[error("spotify accounts service unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The accounts-service half of the Spotify client.
#[derive(Debug, Clone)]
pub struct SpotifyAccounts {
    oauth: OAuthClient,
    http: reqwest::Client,
    scopes: Vec<String>,
}

impl SpotifyAccounts {
    pub fn new(
        settings: &SpotifySettings,
        callback_url: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let base = settings.accounts_url.as_str().trim_end_matches('/');
        let oauth = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_uri(AuthUrl::new(format!("{base}/authorize"))?)
            .set_token_uri(TokenUrl::new(format!("{base}/api/token"))?)
            .set_redirect_uri(RedirectUrl::new(callback_url.to_owned())?);
        Ok(Self {
            oauth,
            http,
            scopes: settings.scopes.clone(),
        })
    }

    /// Where to send the user for consent: the broker's state, PKCE S256, the configured scopes, and
    /// `show_dialog=true` so Spotify asks every time and a linker sees which account they are granting.
    pub fn authorize_url(&self, state: &OAuthState, verifier: &CodeVerifier) -> String {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.expose().to_owned(),
        ));
        let state = state.expose().to_owned();
        let (url, _) = self
            .oauth
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("show_dialog", "true")
            .url();
        url.into()
    }

    /// Exchanges the callback's code for tokens.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &CodeVerifier,
    ) -> Result<TokenGrant, AccountsError> {
        let request = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&self.http);
        grant(request.await)
    }

    /// Refreshes the access token; gives up when `budget` runs out.
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        budget: Duration,
    ) -> Result<TokenGrant, AccountsError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let request = self
            .oauth
            .exchange_refresh_token(&token)
            .request_async(&self.http);
        match tokio::time::timeout(budget, request).await {
            Ok(result) => grant(result),
            Err(_) => Err(AccountsError::Unavailable(anyhow::anyhow!(
                "token call out of time"
            ))),
        }
    }
}

type HttpError = oauth2::HttpClientError<reqwest::Error>;

fn grant<T: TokenResponse>(
    result: Result<T, RequestTokenError<HttpError, oauth2::basic::BasicErrorResponse>>,
) -> Result<TokenGrant, AccountsError> {
    match result {
        Ok(token) => {
            let lifetime = token.expires_in().unwrap_or(Duration::from_secs(3600));
            Ok(TokenGrant {
                access_token: SecretString::from(token.access_token().secret().to_owned()),
                access_expires_at: UnixTime::now()
                    .plus_secs(i64::try_from(lifetime.as_secs()).unwrap_or(3600)),
                refresh_token: token
                    .refresh_token()
                    .map(|t| SecretString::from(t.secret().to_owned())),
                scopes: token
                    .scopes()
                    .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
            })
        }
        Err(RequestTokenError::ServerResponse(response)) => Err(match response.error() {
            BasicErrorResponseType::InvalidGrant => AccountsError::InvalidGrant,
            BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
                AccountsError::InvalidClient
            }
            other => AccountsError::Unavailable(anyhow::anyhow!("spotify token error {other}")),
        }),
        Err(RequestTokenError::Parse(_, body)) if looks_rate_limited(&body) => {
            Err(AccountsError::RateLimited)
        }
        Err(RequestTokenError::Request(err)) => Err(AccountsError::Unavailable(without_url(err))),
        Err(RequestTokenError::Parse(err, _)) => Err(AccountsError::Unavailable(err.into())),
        Err(RequestTokenError::Other(msg)) => Err(AccountsError::Unavailable(anyhow::anyhow!(
            "spotify token call: {msg}"
        ))),
    }
}

/// A transport failure without the URL it was for: logged errors carry no URL.
fn without_url(err: HttpError) -> anyhow::Error {
    match err {
        oauth2::HttpClientError::Reqwest(err) => err.without_url().into(),
        other => other.into(),
    }
}

fn looks_rate_limited(body: &[u8]) -> bool {
    std::str::from_utf8(body)
        .is_ok_and(|s| s.contains("rate limit") || s.contains("\"status\":429"))
}
