//! Client authentication at the token and revocation endpoints: HTTP Basic or body credentials, never both.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::OAuthError;
use super::params::Params;
use crate::config::AlexaSettings;

/// Checks the presented client credentials against Alexa's, in constant time.
pub fn authenticate(
    request: &HttpRequest,
    params: &Params,
    alexa: &AlexaSettings,
) -> Result<(), OAuthError> {
    let basic = request.headers().get(header::AUTHORIZATION);
    let body_secret = params.get("client_secret");
    let (client_id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some(value), None) => {
            let (id, secret) = parse_basic(value.to_str().unwrap_or_default())
                .ok_or_else(OAuthError::invalid_client)?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(OAuthError::invalid_client());
            }
            (id, secret)
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(OAuthError::invalid_client)?;
            (id.to_owned(), secret.to_owned())
        }
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    let id_ok = client_id
        .as_bytes()
        .ct_eq(alexa.client_id.as_str().as_bytes());
    let secret_ok = secret
        .as_bytes()
        .ct_eq(alexa.client_secret.expose_secret().as_bytes());
    if bool::from(id_ok & secret_ok) {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(raw: &str) -> String {
    form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        assert_eq!(
            parse_basic(&header),
            Some(("my client".to_owned(), "s:cret".to_owned()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
