//! Helpers for the proxy tests: the skill's side of `/v1/spotify/*` (both credentials, every answer kept for
//! leak checks), raw HTTP requests for path tricks, oversized heads and chunked bodies no URL library
//! lets through, and more broker replicas on the database of a harness broker.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use broker::domain::LinkId;
use broker::startup::{Application, Migrations};
use e2e::{TestBroker, TokenPair};
use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One broker answer, read whole.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub elapsed: Duration,
    /// `METHOD path`, for assertion messages.
    pub what: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| {
            panic!("{}: answer is not json ({err}): {}", self.what, self.body)
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Broker-Cache`.
    pub fn cache(&self) -> &str {
        self.header("x-broker-cache").unwrap_or("<none>")
    }

    /// Panics unless the answer is `status` with a body.
    pub fn expect_ok(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {}: {}",
            self.what, self.status, self.body
        );
        self
    }

    /// Checks DESIGN.md's normalized error body exactly and returns `retry_after_s`.
    pub fn expect_error(&self, status: u16, code: &str) -> Option<u64> {
        assert_eq!(
            (self.status, self.error_code().as_str()),
            (status, code),
            "{}: expected {status} {code}, got {}: {}",
            self.what,
            self.status,
            self.body
        );
        let body = self.json();
        let object = body.as_object().expect("error body is an object");
        assert_eq!(
            object.len(),
            1,
            "{}: only `error` at the top: {body}",
            self.what
        );
        let error = body["error"].as_object().expect("`error` is an object");
        let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["code", "message", "retry_after_s"],
            "{}: {body}",
            self.what
        );
        assert!(error["message"].is_string(), "{}: {body}", self.what);
        assert!(
            error["retry_after_s"].is_null() || error["retry_after_s"].is_u64(),
            "{}: {body}",
            self.what
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{}: content-type {content_type}",
            self.what
        );
        error["retry_after_s"].as_u64()
    }

    /// The normalized error code, or `<none>` when the body is not an error body.
    pub fn error_code(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "<none>".to_owned())
    }

    /// Everything a client can see: status line, headers and body.
    pub fn transcript(&self) -> String {
        let mut text = format!("{} -> {}\n", self.what, self.status);
        for (name, value) in &self.headers {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        text.push_str(&self.body);
        text
    }
}

/// The skill's side of the internal API: one broker (or replica), one user's linked token.
#[derive(Debug, Clone)]
pub struct Skill {
    pub base_url: String,
    pub http: reqwest::Client,
    pub service_token: String,
    pub bearer: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Skill {
    /// Calls `broker` with its service token and `bearer` as the linked token.
    pub fn new(broker: &TestBroker, bearer: &str) -> Self {
        Self::at(&broker.base_url, broker, bearer)
    }

    /// Like [`Skill::new`], against another replica at `base_url` with the same credentials.
    pub fn at(base_url: &str, broker: &TestBroker, bearer: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            http: broker.http.clone(),
            service_token: broker.service_token.clone(),
            bearer: bearer.to_owned(),
            seen: Arc::default(),
        }
    }

    /// A request on any broker path, both credentials set unless `headers` overrides them
    /// (a header with an empty value is left out).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut all: Vec<(&str, String)> = vec![
            ("authorization", format!("Bearer {}", self.bearer)),
            ("x-service-token", self.service_token.clone()),
        ];
        for (name, value) in headers {
            all.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            all.push((*name, (*value).to_owned()));
        }
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url));
        for (name, value) in all.iter().filter(|(_, v)| !v.is_empty()) {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let start = Instant::now();
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let answer = Answer {
            status,
            headers,
            body,
            elapsed: start.elapsed(),
            what: format!("{method} {path}"),
        };
        self.remember(answer.transcript());
        answer
    }

    /// `/v1/spotify{path}` with both credentials.
    pub async fn spotify(&self, method: Method, path: &str) -> Answer {
        self.call(method, &format!("/v1/spotify{path}"), &[], None)
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.spotify(Method::GET, path).await
    }

    /// A GET with `X-Request-Deadline-Ms`.
    pub async fn get_within(&self, path: &str, deadline_ms: u64) -> Answer {
        self.spotify_within(Method::GET, path, deadline_ms).await
    }

    /// `/v1/spotify{path}` with both credentials and `X-Request-Deadline-Ms`.
    pub async fn spotify_within(&self, method: Method, path: &str, deadline_ms: u64) -> Answer {
        let ms = deadline_ms.to_string();
        self.call(
            method,
            &format!("/v1/spotify{path}"),
            &[("x-request-deadline-ms", ms.as_str())],
            None,
        )
        .await
    }

    pub async fn put(&self, path: &str) -> Answer {
        self.spotify(Method::PUT, path).await
    }

    pub async fn post(&self, path: &str) -> Answer {
        self.spotify(Method::POST, path).await
    }

    /// Keeps a text a client saw, for the leak check.
    pub fn remember(&self, text: String) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(text);
    }

    /// Everything this skill (and its clones) saw.
    pub fn transcripts(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// An admin API call with `token` as the admin bearer.
pub async fn admin(broker: &TestBroker, method: Method, path: &str, token: &str) -> Answer {
    let start = Instant::now();
    let response = broker
        .http
        .request(method.clone(), broker.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
        what: format!("{method} {path}"),
    }
}

/// Links `user` on `broker` and returns Alexa's tokens and the link id.
pub async fn link(broker: &TestBroker, user: &str) -> (TokenPair, LinkId) {
    let pair = broker.link_user(user).await;
    let link_id = broker.link_id_of(user).await;
    (pair, link_id)
}

/// The Spotify access and refresh tokens the store holds for a link, opened.
pub async fn spotify_tokens(broker: &TestBroker, access_token: &str) -> (String, String) {
    let link = broker.open_link(access_token).await;
    let tokens = link.tokens.expect("the link holds tokens");
    (
        tokens.access_token.expose_secret().to_owned(),
        tokens.refresh_token.expose_secret().to_owned(),
    )
}

/// `grant_type=refresh_token` straight at the sandbox (as the broker's Spotify app): status and body.
pub async fn refresh_at_sandbox(broker: &TestBroker, refresh_token: &str) -> (u16, Value) {
    let response = broker
        .http
        .post(broker.sandbox.url("/api/token"))
        .basic_auth(
            &broker.sandbox.client_id,
            Some(&broker.sandbox.client_secret),
        )
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("POST sandbox /api/token");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Sends one HTTP/1.1 request with the target exactly as given (no normalizing, no re-encoding) and
/// returns the status and the body.
pub async fn raw_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connecting to the broker");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("writing the request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the broker answers within 10 s")
        .expect("reading the answer");
    let answer = RawAnswer::parse(&raw);
    (answer.status, answer.body)
}

/// An answer to a request written byte by byte.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    /// The status line and the headers.
    pub head: String,
    pub body: String,
}

impl RawAnswer {
    /// Reads an answer off the wire: status line, headers, and the body (de-chunked when chunked).
    fn parse(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Self {
            status,
            head: head.to_owned(),
            body,
        }
    }

    /// The body as JSON (`Null` when it is empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of header `name` (case-insensitive), if the answer has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends `request`, a whole HTTP/1.1 request (head and body) that should ask to close the connection,
/// and reads the answer. A server may answer and close before it has read everything (a head or body
/// over a limit), so a failed write is no error; the answer must still arrive.
pub async fn raw_exchange(port: u16, request: &[u8]) -> RawAnswer {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connecting");
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    // Read until the server closes; a reset after the answer (unread request bytes) ends it too.
    while let Ok(Ok(read)) =
        tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await
    {
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..read]);
    }
    RawAnswer::parse(&raw)
}

/// A request head for `raw_exchange` (with `Host` and `Connection: close`), then `body`.
pub fn raw_http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A chunked body of `total` bytes of `fill` in chunks of 8 KiB, with its last chunk: no length to
/// check before it has arrived.
pub fn chunked(total: usize, fill: u8) -> Vec<u8> {
    let mut body = Vec::with_capacity(total + total / 1000 + 16);
    let mut left = total;
    while left > 0 {
        let size = left.min(8 * 1024);
        body.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        body.extend(std::iter::repeat_n(fill, size));
        body.extend_from_slice(b"\r\n");
        left -= size;
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

/// The bytes `raw_http` spends on its own headers (`Host`, `Connection`), counted as the header limit
/// counts: name, value, `: ` and CRLF.
pub fn raw_http_header_bytes(port: u16) -> usize {
    let host = format!("127.0.0.1:{port}");
    ("host".len() + host.len() + 4) + ("connection".len() + "close".len() + 4)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Another broker process on `primary`'s database, sandbox and credentials (same key ring, service and
/// admin tokens), with its own memory: a second replica, or the broker after a restart.
#[derive(Debug)]
pub struct Replica {
    pub base_url: String,
}

/// Starts a replica of `primary` on a free port; `overrides` are dotted configuration keys.
pub async fn spawn_replica(primary: &TestBroker, overrides: &[(&str, &str)]) -> Replica {
    let settings = primary
        .replica_settings(overrides)
        .expect("replica settings");
    let app = Application::build(settings, Migrations::Skip)
        .await
        .expect("building a replica");
    let base_url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Replica { base_url }
}

/// Runs `count` calls at once (`make(i)` builds call `i`) and returns the answers in order.
pub async fn concurrently<F, Fut>(count: usize, make: F) -> Vec<Answer>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Answer> + Send + 'static,
{
    let handles: Vec<_> = (0..count).map(|i| tokio::spawn(make(i))).collect();
    let mut answers = Vec::with_capacity(count);
    for handle in handles {
        answers.push(handle.await.expect("a concurrent call panicked"));
    }
    answers
}

/// `count` concurrent searches through `skills` in turn, each with an offset of its own and so a cache key
/// of its own (every one goes to Spotify), each answered 200.
pub async fn distinct_searches_answer_ok(skills: &[Skill], count: usize) {
    let answers = concurrently(count, |i| {
        let skill = skills[i % skills.len()].clone();
        async move {
            skill
                .get(&format!("/search?q=so&type=track&offset={i}"))
                .await
        }
    })
    .await;
    for answer in &answers {
        answer.expect_ok(200);
    }
}
