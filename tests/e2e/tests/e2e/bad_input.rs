//! Garbage in paths, queries, headers and bodies gets the documented JSON error (or the OAuth error page),
//! never a 5xx, on the broker's listeners and the skill's: percent-encoded invalid UTF-8, non-ASCII header
//! bytes, numbers that do not fit, malformed JSON, bodies over `server.max_body_bytes` (413) and headers
//! over `server.max_header_bytes` (431), by length or chunked.

use e2e::{ALICE, Backend, spawn_broker, spawn_sandbox};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use skill::test_support::{TestSkill, TestSkillOptions};

use crate::proxy_support::{
    RawAnswer, chunked, link, raw_exchange, raw_http, raw_http_header_bytes,
};

/// `server.max_body_bytes` by default.
const MAX_BODY: usize = 64 * 1024;
/// `server.max_header_bytes` by default, on both services.
const MAX_HEADERS: usize = 16 * 1024;
/// The skill's limit on the body of `POST /alexa`.
const SKILL_MAX_BODY: usize = 128 * 1024;
/// actix-http refuses a request head larger than this itself, before any of our code runs.
const ACTIX_MAX_HEAD: usize = 128 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";

/// `GET path` on `port` with an `X-Pad` header making the header block exactly `total` bytes, as the
/// limit counts them (each header's name and value, `: ` and CRLF).
async fn get_with_headers_of(port: u16, path: &str, total: usize) -> RawAnswer {
    let pad = "a".repeat(total - raw_http_header_bytes(port) - ("x-pad".len() + 4));
    raw_exchange(port, &raw_http(port, "GET", path, &[("X-Pad", &pad)], b"")).await
}

/// Both sides of a header limit of `limit` bytes on `port`: at it `/healthz` answers, one byte over it
/// the normalized `bad_request` with 431; past actix-http's own limit, its bare 431.
async fn assert_header_limit(port: u16, limit: usize, what: &str) {
    let at = get_with_headers_of(port, "/healthz", limit).await;
    assert_eq!(at.status, 200, "{what}: headers at the limit: {at:?}");
    let over = get_with_headers_of(port, "/healthz", limit + 1).await;
    assert_eq!(over.status, 431, "{what}: one byte over: {over:?}");
    assert_eq!(
        over.json()["error"]["code"],
        "bad_request",
        "{what}: {over:?}"
    );
    assert!(
        over.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{what}: {over:?}"
    );
    assert_eq!(
        over.json()["error"]["message"],
        format!("the request headers are larger than {limit} bytes"),
        "{what}"
    );
    let huge = get_with_headers_of(port, "/healthz", ACTIX_MAX_HEAD + 1024).await;
    assert_eq!(
        huge.status, 431,
        "{what}: past actix-http's limit: {huge:?}"
    );
    assert_eq!(huge.body, "", "{what}: actix-http's own answer has no body");
}

fn port_of(base_url: &str) -> u16 {
    base_url.rsplit(':').next().unwrap().parse().unwrap()
}

/// The normalized error body with `code` and `status`.
async fn assert_api_error(response: reqwest::Response, status: StatusCode, code: &str, why: &str) {
    assert_eq!(response.status(), status, "{why}");
    let body: serde_json::Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{why}: {e}"));
    assert_eq!(body["error"]["code"], code, "{why}");
}

fn junk() -> HeaderValue {
    HeaderValue::from_bytes(b"\xff\xfe junk").unwrap()
}

#[tokio::test]
async fn garbage_in_paths_queries_and_headers_gets_json_errors() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let tokens = broker.link_user(ALICE).await;
    let service = |request: reqwest::RequestBuilder| {
        request.header("X-Service-Token", broker.service_token.as_str())
    };
    let linked = |request: reqwest::RequestBuilder| {
        service(request)
            .bearer_auth(&tokens.access_token)
            .header("X-Alexa-User-Id", "amzn1.ask.account.bad-input")
    };

    let r = service(broker.http.get(broker.url("/v1/spotify/%FF%FE")))
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::NOT_FOUND,
        "not_found",
        "invalid utf-8 in the path",
    )
    .await;

    let r = service(broker.http.get(broker.url("/v1/link")))
        .header("X-Alexa-User-Id", junk())
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "X-Alexa-User-Id bytes",
    )
    .await;

    let r = service(broker.http.get(broker.url("/v1/link")))
        .header("Authorization", junk())
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_client_error(),
        "Authorization bytes: {}",
        r.status()
    );
    let _: serde_json::Value = r.json().await.unwrap();

    let r = broker
        .http
        .get(broker.url("/v1/link"))
        .header("X-Service-Token", junk())
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::UNAUTHORIZED,
        "service_unauthorized",
        "X-Service-Token bytes",
    )
    .await;

    for deadline in ["99999999999999999999999", "-1", "abc"] {
        let r = linked(broker.http.get(broker.url("/v1/spotify/me")))
            .header("X-Request-Deadline-Ms", deadline)
            .send()
            .await
            .unwrap();
        assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request", deadline).await;
    }

    let r = linked(
        broker
            .http
            .get(broker.url("/v1/spotify/search?q=%FF%FE&type=%00")),
    )
    .send()
    .await
    .unwrap();
    assert!(r.status().as_u16() < 500, "garbage query: {}", r.status());

    let admin = |path: &str| {
        broker
            .http
            .get(broker.url(path))
            .bearer_auth(&broker.admin_token)
    };
    let r = admin("/admin/links/%FF").send().await.unwrap();
    assert_api_error(
        r,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "admin link id bytes",
    )
    .await;
    let r = admin("/admin/links?limit=%FF").send().await.unwrap();
    assert_api_error(r, StatusCode::BAD_REQUEST, "bad_request", "admin limit").await;
    let r = admin("/admin/audit?after=%FF%FE").send().await.unwrap();
    assert!(
        r.status().as_u16() < 500,
        "admin audit cursor: {}",
        r.status()
    );

    for path in [
        "/oauth/authorize?client_id=%FF%FE&state=%FF",
        "/oauth/spotify/callback?state=%FF&code=%FE",
    ] {
        let r = broker
            .http
            .get(broker.url(path))
            .header("Accept-Language", junk())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
    }

    let r = broker
        .token_request()
        .header("Authorization", junk())
        .body("grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

/// Bodies over `server.max_body_bytes` are 413 wherever the broker reads one, whether `Content-Length`
/// says so first or a chunked body grows past it: RFC 6749's `invalid_request` on the OAuth endpoints,
/// the normalized `bad_request` on the proxy. A body at the limit is read and judged on what it says.
#[tokio::test]
async fn oversized_bodies_answer_413_in_each_endpoints_shape() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let tokens = broker.link_user(ALICE).await;
    let port = broker.port;

    for path in ["/oauth/token", "/oauth/revoke"] {
        let over = format!("token=t&pad={}", "x".repeat(MAX_BODY));
        let r = broker
            .http
            .post(broker.url(path))
            .header("Content-Type", FORM)
            .body(over)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        assert_eq!(
            body["error_description"],
            format!("the body is larger than {MAX_BODY} bytes")
        );

        let headers = [("Content-Type", FORM), ("Transfer-Encoding", "chunked")];
        let request = raw_http(port, "POST", path, &headers, &chunked(MAX_BODY + 1, b'x'));
        let answer = raw_exchange(port, &request).await;
        assert_eq!(answer.status, 413, "{path} chunked: {answer:?}");
        assert_eq!(answer.json()["error"], "invalid_request", "{path}");

        let at_limit = format!("token={}", "x".repeat(MAX_BODY - "token=".len()));
        let r = broker
            .http
            .post(broker.url(path))
            .header("Content-Type", FORM)
            .body(at_limit)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} at the limit");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{path}");
    }

    let bearer = format!("Bearer {}", tokens.access_token);
    let play = |body: Vec<u8>| {
        broker
            .http
            .put(broker.url("/v1/spotify/me/player/play"))
            .header("X-Service-Token", broker.service_token.as_str())
            .header("Authorization", bearer.as_str())
            .header("Content-Type", "application/json")
            .body(body)
    };
    let r = play(vec![b' '; MAX_BODY + 1]).send().await.unwrap();
    assert_api_error(
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "bad_request",
        "proxied body over the limit",
    )
    .await;
    let headers = [
        ("X-Service-Token", broker.service_token.as_str()),
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked"),
    ];
    let request = raw_http(
        port,
        "PUT",
        "/v1/spotify/me/player/play",
        &headers,
        &chunked(MAX_BODY + 1, b' '),
    );
    let answer = raw_exchange(port, &request).await;
    assert_eq!(answer.status, 413, "proxied chunked body: {answer:?}");
    assert_eq!(answer.json()["error"]["code"], "bad_request");
    let mut at_limit = br#"{"uris": []}"#.to_vec();
    at_limit.resize(MAX_BODY, b' ');
    let r = play(at_limit).send().await.unwrap();
    assert!(
        r.status() != StatusCode::PAYLOAD_TOO_LARGE && r.status().as_u16() < 500,
        "proxied body at the limit: {}",
        r.status()
    );
}

/// Headers over `server.max_header_bytes` (16 KiB by default) are 431 with the JSON error body before
/// routing, on every path: RFC 6749's shape on the OAuth endpoints, `bad_request` elsewhere. Headers
/// at the limit pass; past actix-http's own 128 KiB limit on a request head, its bare 431 answers.
#[tokio::test]
async fn oversized_headers_answer_431() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let tokens = broker.link_user(ALICE).await;
    assert_header_limit(broker.port, MAX_HEADERS, "broker").await;

    // The report that started it: a 70 KB header on an internal call.
    let r = broker
        .http
        .get(broker.url("/v1/link"))
        .header("X-Service-Token", broker.service_token.as_str())
        .bearer_auth(&tokens.access_token)
        .header("X-Junk", "j".repeat(70_000))
        .send()
        .await
        .unwrap();
    assert_api_error(
        r,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "bad_request",
        "a 70 KB header",
    )
    .await;
    for path in ["/oauth/token", "/oauth/revoke"] {
        let r = broker
            .http
            .post(broker.url(path))
            .header("Content-Type", FORM)
            .header("X-Junk", "j".repeat(MAX_HEADERS))
            .body("grant_type=refresh_token")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{path}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    // Nothing was consumed on the way: the same user's call still works.
    let r = broker
        .http
        .get(broker.url("/v1/link"))
        .header("X-Service-Token", broker.service_token.as_str())
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// The admin listener (`server.admin_bind`) answers garbage with the normalized errors too, and its header
/// limit is the configured `server.max_header_bytes`.
#[tokio::test]
async fn garbage_on_the_admin_listener_gets_json_errors() {
    let broker = spawn_broker(
        Backend::Sqlite,
        spawn_sandbox().await,
        &[
            ("server.admin_bind", "127.0.0.1:0"),
            ("server.max_header_bytes", "4096"),
        ],
    )
    .await;
    let admin_url = broker.admin_base_url.clone().expect("an admin listener");
    let (_, link_id) = link(&broker, ALICE).await;
    let admin = |method: Method, path: &str| {
        broker
            .http
            .request(method, format!("{admin_url}{path}"))
            .bearer_auth(&broker.admin_token)
    };
    for (method, path, status, code) in [
        (
            Method::GET,
            "/nope".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/%FF%FE".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/v1/link".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/admin/links/%FF".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/admin/links/not-a-link".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::DELETE,
            "/admin/links/%00".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/admin/links?limit=%FF".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/admin/links?status=sideways".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/admin/audit?kind=%FF".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            format!("/admin/links/{link_id}/restore"),
            StatusCode::CONFLICT,
            "conflict",
        ),
    ] {
        let r = admin(method.clone(), &path)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_api_error(r, status, code, &format!("{method} {path}")).await;
    }
    for token in [junk(), HeaderValue::from_static("Bearer wrong")] {
        let r = broker
            .http
            .get(format!("{admin_url}/admin/links"))
            .header("Authorization", token)
            .send()
            .await
            .unwrap();
        assert_api_error(
            r,
            StatusCode::UNAUTHORIZED,
            "service_unauthorized",
            "admin credential",
        )
        .await;
    }
    let port = port_of(&admin_url);
    assert_header_limit(port, 4096, "admin listener").await;
    assert_header_limit(broker.port, 4096, "main listener, same setting").await;
}

/// The skill's listener: bodies that are no Alexa request (malformed JSON, invalid UTF-8, JSON of another
/// shape) get 400 `malformed_request` once signed (the signature checks come first), bodies over
/// 128 KiB 413 and headers over `server.max_header_bytes` 431 (`bad_request`), unknown paths 404
/// `not_found` and other methods 405 `method_not_allowed`, all as JSON. The content type is not checked:
/// the signature covers the exact bytes, which must be JSON whatever the header says.
#[tokio::test]
async fn garbage_on_the_skills_listener_gets_json_errors() {
    let broker = spawn_broker(Backend::Sqlite, spawn_sandbox().await, &[]).await;
    let skill = TestSkill::spawn(&broker.base_url, &broker.service_token)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>, content_type: Option<&str>, signed: bool| {
        let mut request = http.post(skill.alexa_url());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        if signed {
            for (name, value) in skill.alexa.sign(&body).unwrap().pairs() {
                request = request.header(name, value);
            }
        }
        request.body(body).send()
    };
    let json = Some("application/json");

    for (body, why) in [
        (
            br#"{"version": "1.0", "request": "#.to_vec(),
            "malformed JSON",
        ),
        (b"{\"version\": \"1.0\xff\xfe\"}".to_vec(), "invalid UTF-8"),
        (b"[1, 2, 3]".to_vec(), "JSON of another shape"),
        (Vec::new(), "an empty body"),
    ] {
        let r = post(body, json, true).await.unwrap();
        assert_skill_error(r, StatusCode::BAD_REQUEST, "malformed_request", why).await;
    }
    let launch = serde_json::to_vec(&skill.request().launch()).unwrap();
    let r = post(launch.clone(), Some("text/plain"), false)
        .await
        .unwrap();
    assert_skill_error(r, StatusCode::BAD_REQUEST, "missing_cert_url", "unsigned").await;
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let r = post(launch.clone(), content_type, true).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "signed, as {content_type:?}");
    }

    let r = post(vec![b' '; SKILL_MAX_BODY + 1], json, true)
        .await
        .unwrap();
    assert_skill_error(
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "bad_request",
        "a huge body",
    )
    .await;
    let port = skill.address.port();
    let request = raw_http(
        port,
        "POST",
        "/alexa",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked(SKILL_MAX_BODY + 1, b' '),
    );
    let answer = raw_exchange(port, &request).await;
    assert_eq!(answer.status, 413, "a huge chunked body: {answer:?}");
    assert_eq!(answer.json()["error"]["code"], "bad_request");
    let r = post(vec![b' '; SKILL_MAX_BODY], json, false).await.unwrap();
    assert_skill_error(
        r,
        StatusCode::BAD_REQUEST,
        "missing_cert_url",
        "a body at the limit is read",
    )
    .await;

    assert_header_limit(port, MAX_HEADERS, "skill").await;

    for (method, path, status, code) in [
        ("GET", "/nope", StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/%FF%FE", StatusCode::NOT_FOUND, "not_found"),
        ("POST", "/alexa/more", StatusCode::NOT_FOUND, "not_found"),
        (
            "GET",
            "/alexa",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "POST",
            "/healthz",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "DELETE",
            "/metrics",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = http
            .request(method.clone(), format!("http://{}{path}", skill.address))
            .send()
            .await
            .unwrap();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(r.headers().contains_key("allow"), "{method} {path}");
        }
        assert_skill_error(r, status, code, &format!("{method} {path}")).await;
    }

    // The limit is `server.max_header_bytes`.
    let mut options = TestSkillOptions::new(&broker.base_url, &broker.service_token);
    options
        .extra_env
        .push(("SKILL__SERVER__MAX_HEADER_BYTES".into(), "2048".into()));
    let small = TestSkill::spawn_with(options).await.unwrap();
    assert_header_limit(small.address.port(), 2048, "skill with 2 KiB").await;
}

/// The skill's refusal: `status` and `{"error": {"code", "message"}}`.
async fn assert_skill_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
    why: &str,
) {
    assert_eq!(response.status(), status, "{why}");
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{why}: {e}"));
    assert_eq!(body["error"]["code"], code, "{why}: {body}");
    assert!(body["error"]["message"].is_string(), "{why}: {body}");
}
