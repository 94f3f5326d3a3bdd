//! `SignatureCertChainUrl` and the chain it points to.
//!
//! Invariants: an accepted URL really is `https://s3.amazonaws.com:443/echo.api/…` with no dot
//! segments, credentials, query or fragment, and accepting is idempotent (its normalized text is
//! accepted as itself); arbitrary bytes as a PEM chain never verify a signature.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use skill::verify::cert_url::CertChainUrl;
use skill::verify::certificate::{TrustStore, parse_chain, verify_signed_body};

static TRUST: LazyLock<TrustStore> = LazyLock::new(TrustStore::web_pki);

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = std::str::from_utf8(data) {
        if let Ok(accepted) = CertChainUrl::parse(raw) {
            let url = accepted.as_url();
            assert_eq!(url.scheme(), "https");
            assert_eq!(url.host_str(), Some("s3.amazonaws.com"));
            assert_eq!(url.port_or_known_default(), Some(443));
            assert!(url.username().is_empty() && url.password().is_none());
            assert!(url.query().is_none() && url.fragment().is_none());
            assert!(url.path().starts_with("/echo.api/"), "{url}");
            for segment in url.path().split('/') {
                let lower = segment.to_ascii_lowercase();
                assert!(
                    !matches!(lower.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."),
                    "dot segment left in {url}"
                );
            }
            let again = CertChainUrl::parse(accepted.as_str()).expect("normalized url refused");
            assert_eq!(again, accepted);
        }
    }
    if let Ok(chain) = parse_chain(data) {
        assert!(!chain.is_empty());
        assert!(
            verify_signed_body(&chain, &TRUST, chrono::Utc::now(), data, data).is_err(),
            "arbitrary bytes verified as a signature"
        );
    }
});
