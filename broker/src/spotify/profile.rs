//! Reading the Spotify user during linking (`GET /v1/me`), keyed on `account_id` with `id` as fallback.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::SpotifyUserId;

/// The part of Spotify's user object a link keeps.
#[derive(Debug)]
pub struct SpotifyProfile {
    pub user_id: SpotifyUserId,
    pub display_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Spotify's plain-text 403: the user is not on the development-mode app's allowlist.
    #[error("spotify refuses the user: not on the app's allowlist")]
    NotOnAllowlist,
    /// Spotify's plain-text 403: the app's owner lacks Premium, so the app serves nobody.
    #[error("spotify refuses the app: its owner lacks premium")]
    OwnerLacksPremium,
    #[error("spotify refused to read the profile (status {0})")]
    Refused(u16),
    #[error("spotify profile unavailable")]
    Unavailable(#[source] anyhow::Error),
}

#[derive(Deserialize)]
struct MeResponse {
    id: String,
    account_id: Option<String>,
    display_name: Option<String>,
}

impl SpotifyProfile {
    pub async fn fetch(
        http: &reqwest::Client,
        api_url: &url::Url,
        access_token: &SecretString,
    ) -> Result<Self, ProfileError> {
        let url = format!("{}/v1/me", api_url.as_str().trim_end_matches('/'));
        let response = http
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| ProfileError::Unavailable(e.without_url().into()))?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(ProfileError::Unavailable(anyhow::anyhow!(
                "spotify /v1/me answered {status}"
            )));
        }
        if status.as_u16() == 403 {
            let text = response
                .text()
                .await
                .unwrap_or_default()
                .to_ascii_lowercase();
            return Err(if text.contains("not registered") {
                ProfileError::NotOnAllowlist
            } else if text.contains("owner of the app") {
                ProfileError::OwnerLacksPremium
            } else {
                ProfileError::Refused(403)
            });
        }
        if !status.is_success() {
            return Err(ProfileError::Refused(status.as_u16()));
        }
        let me: MeResponse = response
            .json()
            .await
            .map_err(|e| ProfileError::Unavailable(e.without_url().into()))?;
        let key = me.account_id.filter(|a| !a.is_empty()).unwrap_or(me.id);
        let user_id = SpotifyUserId::parse(&key)
            .map_err(|e| ProfileError::Unavailable(anyhow::anyhow!("spotify user id: {e}")))?;
        Ok(Self {
            user_id,
            display_name: me.display_name,
        })
    }
}
