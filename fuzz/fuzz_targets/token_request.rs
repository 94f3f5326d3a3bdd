//! `POST /oauth/token`: the form body and the `Authorization: Basic` header, up to the point where the
//! endpoint would look anything up.
//!
//! Input: the `Authorization` header value, a newline, the form body.
//! Invariants: nothing panics; nothing authenticates without Alexa's secret (in the body, or in a
//! Basic header whose parts decode, raw or form-urlencoded, to the id and the secret); an accepted
//! request names the grant it was parsed as; and for any client id and secret (taken from the same
//! input), properly encoded credentials always authenticate, a wrong secret never does, and two
//! methods at once are refused.

#![no_main]

use actix_web::http::header::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use broker::config::AlexaSettings;
use broker::domain::{ClientId, RedirectUri};
use broker::oauth::{Params, TokenGrant, parse_token_request};
use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

const ID: &str = "alexa-skill";
const SECRET: &str = "s3cr+t/x%";
const REFRESH: &str = "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn alexa(id: &str, secret: &str) -> Option<AlexaSettings> {
    Some(AlexaSettings {
        client_id: ClientId::parse(id).ok()?,
        client_secret: SecretString::from(secret.to_owned()),
        redirect_uris: vec![RedirectUri::parse("https://layla.amazon.com/api/skill/link/M1").ok()?],
    })
}

fn form_decode(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn encode(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// Whether a Basic header carries `id:secret`, each part raw or form-urlencoded.
fn basic_carries(header: &[u8], id: &str, secret: &str) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    let Some((scheme, b64)) = text.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Some(decoded) = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((i, s)) = decoded.split_once(':') else {
        return false;
    };
    (i == id || form_decode(i) == id) && (s == secret || form_decode(s) == secret)
}

fn check_raw(header: &[u8], body: &[u8]) {
    let Some(settings) = alexa(ID, SECRET) else {
        return;
    };
    let header_value = if header.is_empty() {
        None
    } else {
        HeaderValue::from_bytes(header).ok()
    };
    let Ok(params) = Params::parse(body) else {
        return;
    };
    let Ok(grant) = parse_token_request(header_value.as_ref(), &params, &settings) else {
        return;
    };
    let by_body = header_value.is_none()
        && params.get("client_id") == Some(ID)
        && params.get("client_secret") == Some(SECRET);
    let by_header = header_value.is_some() && basic_carries(header, ID, SECRET);
    assert!(by_body || by_header, "authenticated without the secret");
    match grant {
        TokenGrant::AuthorizationCode { .. } => {
            assert_eq!(params.get("grant_type"), Some("authorization_code"))
        }
        TokenGrant::RefreshToken(_) => assert_eq!(params.get("grant_type"), Some("refresh_token")),
    }
}

fn check_round_trip(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let (Ok(id), Ok(secret)) = (String::arbitrary(&mut input), String::arbitrary(&mut input)) else {
        return;
    };
    let Some(settings) = alexa(&id, &secret) else {
        return;
    };
    if secret.is_empty() {
        return;
    }
    let grant = format!("grant_type=refresh_token&refresh_token={REFRESH}");
    let params = Params::parse(grant.as_bytes()).expect("grant form");
    let basic = |id: &str, secret: &str| {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))))
            .expect("base64 is a header value")
    };
    let encoded = basic(&encode(&id), &encode(&secret));
    assert!(
        matches!(
            parse_token_request(Some(&encoded), &params, &settings),
            Ok(TokenGrant::RefreshToken(_))
        ),
        "encoded Basic credentials refused"
    );
    if !id.contains(':') {
        let raw = basic(&id, &secret);
        assert!(
            parse_token_request(Some(&raw), &params, &settings).is_ok(),
            "raw Basic credentials refused"
        );
    }
    let in_body = format!("{grant}&client_id={}&client_secret={}", encode(&id), encode(&secret));
    let body_params = Params::parse(in_body.as_bytes()).expect("form");
    assert!(
        parse_token_request(None, &body_params, &settings).is_ok(),
        "body credentials refused"
    );
    let both = parse_token_request(Some(&encoded), &body_params, &settings);
    assert_eq!(both.err().map(|e| e.code()), Some("invalid_request"));

    let wrong = format!("{secret}x");
    for header in [basic(&encode(&id), &encode(&wrong)), basic(&id, &wrong)] {
        let refused = parse_token_request(Some(&header), &params, &settings);
        assert_eq!(refused.err().map(|e| e.code()), Some("invalid_client"));
    }
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    check_raw(header, body);
    check_round_trip(data);
});
