//! The proxy's allowlist: which `/v1/spotify/{path}` requests may reach Spotify.
//!
//! Input: one byte choosing the method, then the path as received (not decoded).
//! Invariants: nothing panics; an allowed path is absolute, has no dot segment, empty segment,
//! percent-escape, query, fragment or backslash, is one listed pattern exactly (with `{id}` as 22
//! base-62 characters) for that method, and stays exactly itself below `https://api.spotify.com/v1`
//! once a URL parser normalizes it.

#![no_main]

use actix_web::http::Method;
use broker::proxy::Endpoint;
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, path)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let method = &METHODS[usize::from(choice) % METHODS.len()];
    let Some(endpoint) = Endpoint::resolve(method, path) else {
        return;
    };
    assert!(path.starts_with('/'), "{path}");
    assert!(!path.ends_with('/'), "{path}");
    for bad in ["//", "%", "?", "#", "\\", "/./", "/../"] {
        assert!(!path.contains(bad), "{bad} in {path}");
    }
    assert!(!path.ends_with("/.") && !path.ends_with("/.."), "{path}");
    assert!(path.bytes().all(|b| b.is_ascii_graphic()), "{path:?}");

    let listed = Endpoint::allowlist().iter().any(|(m, pattern, e)| {
        *e == endpoint
            && *m == method.as_str()
            && match pattern.split_once("{id}") {
                None => *pattern == path,
                Some((before, after)) => path
                    .strip_prefix(before)
                    .and_then(|rest| rest.strip_suffix(after))
                    .is_some_and(|id| id.len() == 22 && id.bytes().all(|b| b.is_ascii_alphanumeric())),
            }
    });
    assert!(listed, "{method} {path} resolved to {endpoint:?} without its entry");

    let upstream = url::Url::parse(&format!("https://api.spotify.com/v1{path}")).expect("url");
    assert_eq!(upstream.host_str(), Some("api.spotify.com"));
    assert_eq!(upstream.path(), format!("/v1{path}"), "normalized away from itself");
});
