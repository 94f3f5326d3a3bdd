//! What every Web API handler reads from a request: the bearer token and numeric query parameters.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::SandboxError;

/// The bearer token, or Spotify's 401 "No token provided" / 400 for other schemes.
pub fn bearer(req: &HttpRequest) -> Result<&str, SandboxError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(SandboxError::unauthorized("No token provided"));
    };
    let value = value
        .to_str()
        .map_err(|_| SandboxError::unauthorized("Invalid access token"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        Some((scheme, _)) if !scheme.eq_ignore_ascii_case("bearer") => Err(
            SandboxError::bad_request("Only valid bearer authentication supported"),
        ),
        _ => Err(SandboxError::unauthorized("No token provided")),
    }
}

/// A query parameter as an integer in `min..=max`, `default` when absent; Spotify's 400 "Invalid <name>" otherwise.
pub fn int_param(
    value: Option<&str>,
    name: &str,
    default: usize,
    min: usize,
    max: usize,
) -> Result<usize, SandboxError> {
    match value {
        None | Some("") => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| SandboxError::bad_request(format!("Invalid {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn bearer_needs_the_bearer_scheme() {
        let req = TestRequest::default()
            .insert_header(("Authorization", "Bearer abc"))
            .to_http_request();
        assert_eq!(bearer(&req).ok(), Some("abc"));
        let req = TestRequest::default().to_http_request();
        assert!(
            matches!(bearer(&req), Err(SandboxError::Api { message, .. }) if message == "No token provided")
        );
        let req = TestRequest::default()
            .insert_header(("Authorization", "Basic abc"))
            .to_http_request();
        assert!(bearer(&req).is_err());
    }

    #[test]
    fn int_params_are_range_checked() {
        assert_eq!(int_param(None, "limit", 20, 1, 50).ok(), Some(20));
        assert_eq!(int_param(Some("7"), "limit", 20, 1, 50).ok(), Some(7));
        assert!(int_param(Some("0"), "limit", 20, 1, 50).is_err());
        assert!(int_param(Some("x"), "limit", 20, 1, 50).is_err());
    }
}
