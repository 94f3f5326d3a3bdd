//! What Alexa sees of the OAuth flow: the redirect to its `redirect_uri`, and token answers.

use broker::domain::CodeVerifier;
use reqwest::Response;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

/// Where the broker finally sent the browser: Alexa's redirect URI with `code` or `error`, and `state`.
#[derive(Debug, Clone)]
pub struct AlexaRedirect {
    pub location: Url,
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl AlexaRedirect {
    pub fn parse(location: &str) -> Self {
        let location = Url::parse(location)
            .unwrap_or_else(|err| panic!("Location {location} is not a url: {err}"));
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        Self {
            code: param("code"),
            state: param("state"),
            error: param("error"),
            error_description: param("error_description"),
            location,
        }
    }

    /// The redirect URI without its query, to compare with the registered one.
    pub fn base(&self) -> String {
        let mut base = self.location.clone();
        base.set_query(None);
        base.to_string()
    }

    /// The code, or a panic naming the error the broker sent instead.
    pub fn expect_code(&self) -> String {
        match &self.code {
            Some(code) => code.clone(),
            None => panic!(
                "expected a code at Alexa's redirect URI, got error {:?} ({:?}) in {}",
                self.error, self.error_description, self.location
            ),
        }
    }
}

/// A successful token answer (RFC 6749 §5.1), with the headers it came with.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TokenPair {
    /// Reads a 200 token answer; panics with the status and body otherwise.
    pub async fn from_response(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::OK,
            "token endpoint answered {status}: {text}"
        );
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("token answer is not json ({err}): {text}"));
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("token answer lacks {name}: {text}"))
                .to_owned()
        };
        Self {
            access_token: field("access_token"),
            refresh_token: field("refresh_token"),
            token_type: field("token_type"),
            expires_in: body["expires_in"]
                .as_i64()
                .unwrap_or_else(|| panic!("token answer lacks expires_in: {text}")),
            headers,
            body,
        }
    }
}

/// A fresh PKCE verifier and its S256 challenge, as Alexa would send them.
pub fn pkce_pair() -> (String, String) {
    let verifier = CodeVerifier::generate();
    (
        verifier.expose().to_owned(),
        verifier.challenge().as_str().to_owned(),
    )
}

/// An OAuth error answer: status, `error`, and the headers.
pub async fn oauth_error(response: Response) -> (StatusCode, String, HeaderMap) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{status} error answer is not json ({err}): {text}"));
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} error answer lacks error: {text}"))
        .to_owned();
    (status, error, headers)
}
