//! The rules a `SignatureCertChainUrl` must meet before the skill downloads anything from it.

use url::Url;

/// Why a certificate URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertUrlError {
    /// Not a URL at all.
    #[error("not a valid URL")]
    Unparseable,
    /// Not `https`.
    #[error("scheme must be https")]
    Scheme,
    /// Not `s3.amazonaws.com`.
    #[error("host must be s3.amazonaws.com")]
    Host,
    /// A port other than 443.
    #[error("port must be 443")]
    Port,
    /// The normalized path is not under `/echo.api/`.
    #[error("path must start with /echo.api/")]
    Path,
    /// Credentials in the URL.
    #[error("the URL must not carry credentials")]
    Credentials,
    /// A query or a fragment (Amazon's URL is a plain path; anything more is not Amazon's file).
    #[error("the URL must not carry a query or a fragment")]
    QueryOrFragment,
}

/// A certificate-chain URL that passed Amazon's rules (https, host `s3.amazonaws.com`, port 443,
/// path under `/echo.api/` after dot segments are resolved, no query, no fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertChainUrl(Url);

impl CertChainUrl {
    /// Checks `raw` against the rules. Scheme and host compare case-insensitively (the URL parser
    /// lowercases them), the path case-sensitively after normalization.
    pub fn parse(raw: &str) -> Result<Self, CertUrlError> {
        let url = Url::parse(raw.trim()).map_err(|_| CertUrlError::Unparseable)?;
        if url.scheme() != "https" {
            return Err(CertUrlError::Scheme);
        }
        if !url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("s3.amazonaws.com"))
        {
            return Err(CertUrlError::Host);
        }
        // The parser drops an explicit default port, so `:443` reads as none here.
        if url.port().is_some() {
            return Err(CertUrlError::Port);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CertUrlError::Credentials);
        }
        // Even an empty `?` or `#` counts: the parser keeps them as `Some("")`.
        if url.query().is_some() || url.fragment().is_some() {
            return Err(CertUrlError::QueryOrFragment);
        }
        // `Url` has already resolved `.` and `..` segments (also percent-encoded ones).
        if !url.path().starts_with("/echo.api/") {
            return Err(CertUrlError::Path);
        }
        Ok(Self(url))
    }

    /// The normalized URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The normalized URL as text (the cache key).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_amazons_valid_forms() {
        for ok in [
            "https://s3.amazonaws.com/echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com:443/echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com/echo.api/../echo.api/echo-api-cert.pem",
            "HTTPS://S3.AMAZONAWS.COM/echo.api/echo-api-cert.pem",
            "https://s3.amazonaws.com/echo.api/./echo-api-cert.pem",
        ] {
            let url = CertChainUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(
                url.as_str(),
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem"
            );
        }
    }

    #[test]
    fn refuses_every_bad_form() {
        let cases = [
            (
                "http://s3.amazonaws.com/echo.api/echo-api-cert.pem",
                CertUrlError::Scheme,
            ),
            (
                "https://notamazon.com/echo.api/echo-api-cert.pem",
                CertUrlError::Host,
            ),
            (
                "https://s3.amazonaws.com.evil.com/echo.api/cert.pem",
                CertUrlError::Host,
            ),
            (
                "https://s3.amazonaws.com:563/echo.api/echo-api-cert.pem",
                CertUrlError::Port,
            ),
            (
                "https://s3.amazonaws.com:80/echo.api/echo-api-cert.pem",
                CertUrlError::Port,
            ),
            (
                "https://s3.amazonaws.com/EcHo.aPi/echo-api-cert.pem",
                CertUrlError::Path,
            ),
            (
                "https://s3.amazonaws.com/invalid.path/echo-api-cert.pem",
                CertUrlError::Path,
            ),
            ("https://s3.amazonaws.com/echo.api/../x", CertUrlError::Path),
            (
                "https://s3.amazonaws.com/echo.api/%2e%2e/x",
                CertUrlError::Path,
            ),
            ("https://s3.amazonaws.com/echo.api", CertUrlError::Path),
            (
                "https://user:pw@s3.amazonaws.com/echo.api/c.pem",
                CertUrlError::Credentials,
            ),
            ("not a url", CertUrlError::Unparseable),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem?x=1",
                CertUrlError::QueryOrFragment,
            ),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem?",
                CertUrlError::QueryOrFragment,
            ),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem#frag",
                CertUrlError::QueryOrFragment,
            ),
            (
                "https://s3.amazonaws.com/echo.api/echo-api-cert.pem#",
                CertUrlError::QueryOrFragment,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(CertChainUrl::parse(raw), Err(expected), "{raw}");
        }
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_url_is_amazons(path in "[./a-zA-Z%2eE:@?#]{0,30}", host in "(s3|S3)\\.amazonaws\\.(com|COM)(:443|:80)?") {
            let raw = format!("https://{host}/{path}");
            if let Ok(url) = CertChainUrl::parse(&raw) {
                let url = url.as_url();
                proptest::prop_assert_eq!(url.host_str(), Some("s3.amazonaws.com"));
                proptest::prop_assert_eq!(url.port_or_known_default(), Some(443));
                proptest::prop_assert!(url.path().starts_with("/echo.api/"));
                proptest::prop_assert!(!url.path().split('/').any(|s| s == ".." || s == "."));
                proptest::prop_assert!(url.query().is_none() && url.fragment().is_none());
            }
        }

        #[test]
        fn normalization_is_idempotent(raw in "https://s3\\.amazonaws\\.com/[./a-z%2e]{0,30}") {
            if let Ok(url) = CertChainUrl::parse(&raw) {
                proptest::prop_assert_eq!(CertChainUrl::parse(url.as_str()), Ok(url.clone()));
            }
        }
    }
}
