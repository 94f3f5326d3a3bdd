//! A redirect URI compared exactly, as OAuth requires for registered redirect URLs.

use std::fmt;

use url::Url;

use super::InvalidValue;

/// An absolute https URI without a fragment (http is allowed only for loopback hosts, for local runs).
/// Comparison is on the exact string the client registered, never on a normalized form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let url =
            Url::parse(raw).map_err(|_| InvalidValue("redirect_uri must be an absolute url"))?;
        if url.fragment().is_some() {
            return Err(InvalidValue("redirect_uri must not have a fragment"));
        }
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(InvalidValue("redirect_uri must use https")),
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with the given query parameters appended (after any it already has).
    pub fn with_query(&self, pairs: &[(&str, &str)]) -> String {
        match Url::parse(&self.0) {
            Ok(mut url) => {
                url.query_pairs_mut().extend_pairs(pairs);
                url.into()
            }
            Err(_) => self.0.clone(),
        }
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = InvalidValue;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert!(RedirectUri::parse("https://layla.amazon.com/api/skill/link/M1").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb").is_ok());
    }

    #[test]
    fn refuses_the_rest() {
        for raw in [
            "",
            "/relative",
            "http://evil.example/cb",
            "https://a.example/cb#frag",
            "javascript:alert(1)",
        ] {
            assert!(RedirectUri::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn appends_query() {
        let uri = RedirectUri::parse("https://a.example/cb?x=1").unwrap();
        assert_eq!(
            uri.with_query(&[("code", "c"), ("state", "a b")]),
            "https://a.example/cb?x=1&code=c&state=a+b"
        );
    }
}
