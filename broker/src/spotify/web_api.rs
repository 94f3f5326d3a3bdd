//! Calls to Spotify's Web API for a linked user: timeouts, bounded jittered retries for idempotent
//! requests on connection errors and 5xx, and the caller's deadline respected throughout.

use std::time::Duration;

use actix_web::web::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Uri};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::{ApiConnections, ConnectionError};

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
    Unreachable(#[source] SendError),
}

/// Why one attempt got no answer. None of these carries the URL (hyper's errors never do).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request could not be formed, e.g. a token that is not a valid header value. Never retried.
    #[error("the request could not be formed")]
    Request(#[source] hyper::http::Error),
    /// Connecting, the TLS handshake, or writing the request failed, the connection closed first, or
    /// the answer's body could not be read to its end.
    #[error("connection failed")]
    Connection(#[source] ConnectionError),
    /// No whole answer within `spotify.timeout_ms`.
    #[error("no answer within spotify.timeout_ms")]
    TimedOut,
}

impl SendError {
    /// Whether another attempt may succeed.
    fn transient(&self) -> bool {
        !matches!(self, Self::Request(_))
    }
}

/// The Web API half of the Spotify client.
#[derive(Debug, Clone)]
pub struct WebApi {
    connections: ApiConnections,
    /// The longest one attempt may take (`spotify.timeout_ms`).
    timeout: Duration,
    /// `{api_url}` parsed once; each call's URL is a copy with its path and query set.
    base: url::Url,
    /// The `Host` header every call sends, made once (hyper's connection API adds none, and HTTP/1.1
    /// requires it).
    host: Option<HeaderValue>,
    /// `{api_url}`'s path followed by `/v1`, without a trailing slash.
    path_prefix: String,
    max_retries: u32,
}

impl WebApi {
    pub fn new(
        connections: ApiConnections,
        api_url: &url::Url,
        timeout: Duration,
        max_retries: u32,
    ) -> Self {
        Self {
            connections,
            timeout,
            base: api_url.clone(),
            host: host_header(api_url),
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
            let outcome = self.attempt(request, access_token, deadline).await?;
            let retry = attempt < self.max_retries
                && request.retryable()
                && match &outcome {
                    Ok(response) => response.status >= 500,
                    Err(err) => err.transient(),
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

    /// One attempt, bounded by `spotify.timeout_ms` and by `deadline` (one timer for both).
    async fn attempt(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
        deadline: Instant,
    ) -> Result<Result<ApiResponse, SendError>, CallError> {
        let timeout_at = deadline.min(Instant::now() + self.timeout);
        match tokio::time::timeout_at(timeout_at, self.send(request, access_token)).await {
            Ok(outcome) => Ok(outcome),
            Err(_) if timeout_at == deadline => Err(CallError::OutOfTime),
            Err(_) => Ok(Err(SendError::TimedOut)),
        }
    }

    async fn send(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
    ) -> Result<ApiResponse, SendError> {
        let (head, body) = self
            .connections
            .send(self.http_request(request, access_token)?)
            .await
            .map_err(SendError::Connection)?;
        let headers = &head.headers;
        Ok(ApiResponse {
            status: head.status.as_u16(),
            content_type: header_text(headers, header::CONTENT_TYPE),
            etag: header_text(headers, header::ETAG),
            cache_control: header_text(headers, header::CACHE_CONTROL),
            retry_after: header_text(headers, header::RETRY_AFTER),
            body,
        })
    }

    /// The HTTP request for one attempt; the token's header value is marked sensitive.
    fn http_request(
        &self,
        request: &ApiRequest,
        access_token: &SecretString,
    ) -> Result<Request<Full<Bytes>>, SendError> {
        let mut authorization =
            HeaderValue::try_from(["Bearer ", access_token.expose_secret()].concat())
                .map_err(|err| SendError::Request(err.into()))?;
        authorization.set_sensitive(true);
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(self.uri(&request.path_and_query)?)
            .header(header::AUTHORIZATION, authorization);
        if let Some(host) = &self.host {
            builder = builder.header(header::HOST, host.clone());
        }
        if let Some(etag) = &request.if_none_match {
            builder = builder.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(content_type) = &request.content_type {
            builder = builder.header(header::CONTENT_TYPE, content_type);
        }
        let body = match &request.body {
            Some(body) => Full::new(body.clone()),
            None => {
                // Spotify wants a length on bodiless PUT/POST player commands.
                if request.method != Method::GET {
                    builder = builder.header(header::CONTENT_LENGTH, "0");
                }
                Full::default()
            }
        };
        builder.body(body).map_err(SendError::Request)
    }

    /// The path and query of [`Self::url`], as the URI hyper sends (the connection adds the origin
    /// where HTTP/2 needs it). A path and query the URL parser would leave as they are (the common case)
    /// are appended to the base's path without it.
    fn uri(&self, path_and_query: &str) -> Result<Uri, SendError> {
        let target = if is_left_as_is(path_and_query) {
            [self.path_prefix.as_str(), path_and_query].concat()
        } else {
            self.url(path_and_query)[url::Position::BeforePath..url::Position::AfterQuery]
                .to_owned()
        };
        Uri::try_from(target).map_err(|err| SendError::Request(err.into()))
    }
}

/// `host[:port]`, the port only when it is not the scheme's default (RFC 9110's `Host`).
fn host_header(api_url: &url::Url) -> Option<HeaderValue> {
    let host = api_url.host_str()?;
    let value = match api_url.port() {
        Some(port) => HeaderValue::try_from(format!("{host}:{port}")),
        None => HeaderValue::try_from(host),
    };
    value.ok()
}

/// Whether the URL parser leaves `path_and_query` as it is: a path without dot segments or escapes, and
/// a path and query of printable ASCII that it would not percent-encode.
fn is_left_as_is(path_and_query: &str) -> bool {
    /// Besides letters and digits, what a path may hold that the parser neither escapes nor resolves.
    const PATH_PUNCTUATION: &[u8] = b"/-_~:@,=+&!$*;";
    /// Printable ASCII the parser escapes in a query (and `\`, which it would keep but hyper may refuse).
    const QUERY_ESCAPED: &[u8] = b"\"#<>'\\";
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path_ok = path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || PATH_PUNCTUATION.contains(&b));
    let query_ok = query
        .bytes()
        .all(|b| (0x21..0x7f).contains(&b) && !QUERY_ESCAPED.contains(&b));
    path_ok && query_ok
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
    use crate::config::HttpVersion;

    fn web_api(api_url: &str) -> WebApi {
        web_api_speaking(api_url, HttpVersion::Http1)
    }

    fn web_api_speaking(api_url: &str, version: HttpVersion) -> WebApi {
        let api_url = url::Url::parse(api_url).unwrap();
        WebApi::new(
            ApiConnections::new(&api_url, Duration::from_secs(1), version).unwrap(),
            &api_url,
            Duration::from_secs(1),
            0,
        )
    }

    #[test]
    fn the_host_header_names_the_port_only_when_it_is_not_the_default() {
        for (api_url, host) in [
            ("https://api.spotify.com", "api.spotify.com"),
            ("https://api.spotify.com:443/", "api.spotify.com"),
            ("https://api.spotify.com:8443", "api.spotify.com:8443"),
            ("http://127.0.0.1:18091", "127.0.0.1:18091"),
            ("http://[::1]:80/spotify/", "[::1]"),
        ] {
            let request = web_api(api_url)
                .http_request(
                    &ApiRequest {
                        method: Method::GET,
                        path_and_query: "/me".into(),
                        body: None,
                        content_type: None,
                        if_none_match: None,
                    },
                    &SecretString::from("t"),
                )
                .unwrap();
            assert_eq!(request.headers()[header::HOST], host, "{api_url}");
        }
    }

    #[test]
    fn only_what_the_url_parser_leaves_alone_skips_it() {
        for path_and_query in [
            "/me",
            "/me/player?market=US",
            "/search?type=track&q=daft%20punk&limit=5",
            "/me/player/queue?uri=spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        ] {
            assert!(is_left_as_is(path_and_query), "{path_and_query}");
        }
        for path_and_query in [
            "me",
            "/me/../admin",
            "/me/%2e%2e/admin",
            "/me/./player",
            "/me\\admin",
            "/search?q=caf\u{e9}",
            "/search?q=a b",
            "/search?q=a#b",
            "/search?q='a'",
        ] {
            assert!(!is_left_as_is(path_and_query), "{path_and_query}");
        }
    }

    #[test]
    fn every_query_the_url_accepts_becomes_a_uri() {
        let api = web_api("https://api.spotify.com");
        for path_and_query in [
            "/search?type=track&q=caf\u{e9} au lait",
            "/search?type=track&q={a}|b^c`d\"e'f<g>h\\i",
            "/search?type=track&q=%zz%20%",
            "/me/player?market=US#fragment",
            "/search?q=\u{1F3B5}&type=track",
        ] {
            let uri = api.uri(path_and_query).unwrap();
            assert_eq!(uri.host(), None, "{path_and_query}");
            assert!(uri.path().starts_with("/v1/"), "{path_and_query}");
        }
    }

    /// Also: the TLS handshake offers the HTTP versions `spotify.http_version` allows (ALPN), so that
    /// Spotify can agree on HTTP/2 at `auto`.
    #[tokio::test]
    async fn an_https_api_url_is_only_spoken_to_over_tls() {
        const H2: &[u8] = b"\x02h2";
        const HTTP1: &[u8] = b"\x08http/1.1";
        let offers =
            |hello: &[u8], protocol: &[u8]| hello.windows(protocol.len()).any(|w| w == protocol);
        for (version, h2, http1) in [
            (HttpVersion::Http1, false, false), // no ALPN: the server speaks HTTP/1.1
            (HttpVersion::Auto, true, true),
            (HttpVersion::Http2, true, false),
        ] {
            let hello = first_bytes_at_an_https_url(version).await;
            assert_eq!(offers(&hello, H2), h2, "{version:?} offers h2");
            assert_eq!(offers(&hello, HTTP1), http1, "{version:?} offers http/1.1");
        }
    }

    /// What the client sends first to a plain-HTTP server named by an `https` URL.
    async fn first_bytes_at_an_https_url(version: HttpVersion) -> Vec<u8> {
        // A server that answers plain HTTP: the client must not send the request (and its token) in clear.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut first = vec![0u8; 4096];
            let read = socket.read(&mut first).await.unwrap();
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await;
            first.truncate(read);
            first
        });
        let api = web_api_speaking(&format!("https://127.0.0.1:{port}"), version);
        let request = ApiRequest {
            method: Method::GET,
            path_and_query: "/me".into(),
            body: None,
            content_type: None,
            if_none_match: None,
        };
        let token = SecretString::from("spotify-access-token");
        let outcome = api
            .call(&request, &token, Instant::now() + Duration::from_secs(5))
            .await;
        assert!(
            matches!(
                outcome,
                Err(CallError::Unreachable(SendError::Connection(_)))
            ),
            "{version:?}: {outcome:?}"
        );
        let first = server.await.unwrap();
        assert_eq!(
            first.first(),
            Some(&0x16),
            "{version:?}: a TLS handshake record comes first"
        );
        assert!(!String::from_utf8_lossy(&first).contains("spotify-access-token"));
        first
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
                "/me/../admin",
                "/me/%2e%2E/admin?x=1",
                "/me/./player",
                "/me\\..\\admin",
                "/search?q='quoted' \"twice\"&type=track",
                "/search?q=%41%zz&type=track",
                "/albums/4aawyAB9vmqN3uQ7FjRGTy/tracks?limit=50&offset=0&market=from_token",
            ] {
                let whole = format!("{}/v1{}", base.trim_end_matches('/'), path_and_query);
                let parsed = url::Url::parse(&whole).unwrap();
                assert_eq!(
                    api.url(path_and_query).as_str(),
                    parsed.as_str(),
                    "{base} + {path_and_query}"
                );
                assert_eq!(
                    api.uri(path_and_query).unwrap(),
                    Uri::try_from(&parsed[url::Position::BeforePath..url::Position::AfterQuery])
                        .unwrap(),
                    "{base} + {path_and_query}"
                );
            }
        }
    }
}
