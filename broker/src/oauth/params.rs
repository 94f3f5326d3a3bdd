//! Parsing OAuth parameters (query strings and form bodies) strictly: no parameter may appear twice.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;
use broker_proto::limits::{BodyError, read_body};

use super::OAuthError;

/// The parameters of one OAuth request.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` bytes; a repeated parameter is an `invalid_request`.
    pub fn parse(raw: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (key, value) in form_urlencoded::parse(raw) {
            if map.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {key} is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    /// A parameter, with an empty value treated as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is required")))
    }
}

/// Reads a form body of at most `limit` bytes (413 past it) from a POST with the form content type.
pub async fn read_form(
    request: &HttpRequest,
    payload: actix_web::web::Payload,
    limit: usize,
) -> Result<Params, OAuthError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = read_body(request, payload, limit)
        .await
        .map_err(|err| match err {
            BodyError::TooLarge(exceeded) => OAuthError::too_large(exceeded),
            BodyError::Unreadable => OAuthError::invalid_request(err.to_string()),
        })?;
    Params::parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let params = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y"));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_refuse(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            let _ = Params::parse(&raw);
        }

        #[test]
        fn serialized_forms_read_back(pairs in proptest::collection::btree_map("\\PC{1,12}", "\\PC{0,20}", 0..6)) {
            let form: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
            let params = Params::parse(form.as_bytes()).unwrap();
            for (key, value) in &pairs {
                proptest::prop_assert_eq!(params.get(key), (!value.is_empty()).then_some(value.as_str()));
            }
        }
    }
}
