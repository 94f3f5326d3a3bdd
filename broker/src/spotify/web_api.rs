//! Calls to Spotify's Web API for a linked user: timeouts, bounded jittered retries for idempotent
//! requests on connection errors and 5xx, and the caller's deadline respected throughout.

use std::time::Duration;

use actix_web::web::Bytes;
use rand::Rng;
use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::ThreadClients;

/// One request to `{api_url}/v1{path_and_query}`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path below `/v1` with its query, e.g. `/me/player?market=US`.
    pub path_and_query: String,
    pub body: Option<Bytes>,
    pub content_type: Option<String>,
    pub if_none_match: Option<String>,
}

impl ApiRequest {
    /// Only GETs are retried: a repeated player command could skip two tracks.
    fn retryable(&self) -> bool {
        self.method == Method::GET
    }
}

/// Spotify's answer, body fully read.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub cache_control: Option<String>,
    pub retry_after: Option<String>,
    pub body: Bytes,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The caller's deadline passed first.
    #[error("deadline reached before spotify answered")]
    OutOfTime,
    /// Connection failure, timeout or unreadable answer, after any retries. The error carries no URL:
    /// the query can hold search terms, and this error is logged.
    #[error("spotify unreachable")]
    Unreachable(#[source] reqwest::Error),
}

/// The Web API half of the Spotify client.
#[derive(Debug, Clone)]
pub struct WebApi {
    http: ThreadClients,
    /// `{api_url}` parsed once; each call's URL is a copy with its path and query set.
    base: url::Url,
    /// `{api_url}`'s path followed by `/v1`, without a trailing slash.
    path_prefix: String,
    max_retries: u32,
}

impl WebApi {
    pub fn new(http: ThreadClients, api_url: &url::Url, max_retries: u32) -> Self {
        Self {
            http,
            base: api_url.clone(),
            path_prefix: format!("{}/v1", api_url.path().trim_end_matches('/')),
            max_retries,
        }
    }

    /// `{api_url}/v1{path_and_query}`, without parsing the whole URL again: the scheme and host are
    /// checked once, and only the path and query are set here (about 5 % of an uncached answer when the
    /// whole URL was parsed per call).
    fn url(&self, path_and_query: &str) -> url::Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut url = self.base.clone();
        url.set_path(&[self.path_prefix.as_str(), path].concat());
        url.set_query(query);
        url
    }

    /// Sends `request`, retrying GETs on connection errors and 5xx with jittered backoff, never past
    /// `deadline`. A 5xx that survives the retries is returned as a response.
    pub async fn call(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
        deadline: Instant,
    ) -> Result<ApiResponse, CallError> {
        let mut attempt = 0;
        loop {
            let outcome = tokio::time::timeout_at(deadline, self.send(request, access_token))
                .await
                .map_err(|_| CallError::OutOfTime)?;
            let retry = attempt < self.max_retries
                && request.retryable()
                && match &outcome {
                    Ok(response) => response.status >= 500,
                    Err(err) => err.is_connect() || err.is_timeout() || err.is_request(),
                };
            if !retry {
                return outcome.map_err(CallError::Unreachable);
            }
            attempt += 1;
            let base_ms = 40u64 << attempt;
            let pause = Duration::from_millis(rand::thread_rng().gen_range(base_ms / 2..=base_ms));
            if Instant::now() + pause >= deadline {
                return outcome.map_err(CallError::Unreachable);
            }
            tracing::debug!(attempt, path = %path_only(&request.path_and_query), "retrying spotify call");
            tokio::time::sleep(pause).await;
        }
    }

    /// One attempt; a failure comes back without its URL (reqwest's error text would show the query).
    async fn send(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
    ) -> Result<ApiResponse, reqwest::Error> {
        self.send_once(request, access_token)
            .await
            .map_err(reqwest::Error::without_url)
    }

    async fn send_once(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
    ) -> Result<ApiResponse, reqwest::Error> {
        let mut builder = self
            .http
            .get()?
            .request(request.method.clone(), self.url(&request.path_and_query))
            .bearer_auth(access_token.expose_secret());
        if let Some(etag) = &request.if_none_match {
            builder = builder.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(content_type) = &request.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        builder = match &request.body {
            Some(body) => builder.body(body.clone()),
            // Spotify wants a length on bodiless PUT/POST player commands.
            None if request.method != Method::GET => builder.header(header::CONTENT_LENGTH, "0"),
            None => builder,
        };
        let response = builder.send().await?;
        let headers = response.headers();
        let mut answer = ApiResponse {
            status: response.status().as_u16(),
            content_type: header_text(headers, header::CONTENT_TYPE),
            etag: header_text(headers, header::ETAG),
            cache_control: header_text(headers, header::CACHE_CONTROL),
            retry_after: header_text(headers, header::RETRY_AFTER),
            body: Bytes::new(),
        };
        answer.body = response.bytes().await?;
        Ok(answer)
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The path without its query, for logs (queries can carry search terms).
pub fn path_only(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_api(api_url: &str) -> WebApi {
        WebApi::new(
            ThreadClients::new(Duration::from_secs(1)).unwrap(),
            &url::Url::parse(api_url).unwrap(),
            0,
        )
    }

    #[test]
    fn a_call_url_is_what_parsing_the_whole_url_gives() {
        for base in [
            "https://api.spotify.com",
            "https://api.spotify.com/",
            "http://127.0.0.1:18091",
            "http://sandbox.local:8090/spotify/",
        ] {
            let api = web_api(base);
            for path_and_query in [
                "/me",
                "/me/player?market=US",
                "/search?type=track&q=daft%20punk",
                "/search?type=track&q=caf\u{e9} au lait&limit=5",
                "/search?q=a+b&type=track,album&offset=10",
                "/playlists/37i9dQZF1DXcBWIGoYBM5M/items?limit=10",
                "/me/player/queue?uri=spotify:track:4uLU6hMCjMI75M1A2tKUQC",
                "/search?",
            ] {
                let whole = format!("{}/v1{}", base.trim_end_matches('/'), path_and_query);
                assert_eq!(
                    api.url(path_and_query).as_str(),
                    url::Url::parse(&whole).unwrap().as_str(),
                    "{base} + {path_and_query}"
                );
            }
        }
    }
}
