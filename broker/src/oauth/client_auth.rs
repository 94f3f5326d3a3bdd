//! Client authentication at the token and revocation endpoints: HTTP Basic or body credentials, never both,
//! with failures capped per source address.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::OAuthError;
use super::limits::ClientAuthLimits;
use super::params::Params;
use crate::config::AlexaSettings;

/// Checks the presented client credentials against Alexa's, in constant time. An address that failed too
/// often recently gets 429 without its credentials being looked at, and a failure that goes over the cap
/// answers 429 too.
pub fn authenticate_limited(
    request: &HttpRequest,
    params: &Params,
    alexa: &AlexaSettings,
    limits: &ClientAuthLimits,
) -> Result<(), OAuthError> {
    let peer = request.peer_addr().map(|address| address.ip());
    if let Err(refused) = limits.admit(peer) {
        return Err(OAuthError::too_many_failed_authentications(
            refused.retry_after,
        ));
    }
    match authenticate(request.headers().get(header::AUTHORIZATION), params, alexa) {
        Err(err) if err.code() == "invalid_client" => match limits.failed(peer) {
            Ok(()) => Err(err),
            Err(over) => {
                tracing::warn!(
                    "client authentication refused: too many failures from this address"
                );
                Err(OAuthError::too_many_failed_authentications(
                    over.retry_after,
                ))
            }
        },
        other => other,
    }
}

/// Checks the presented client credentials against Alexa's, in constant time.
pub fn authenticate(
    authorization: Option<&HeaderValue>,
    params: &Params,
    alexa: &AlexaSettings,
) -> Result<(), OAuthError> {
    let basic = authorization;
    let body_secret = params.get("client_secret");
    let (ids, secrets) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some(value), None) => {
            let (id, secret) = parse_basic(value.to_str().unwrap_or_default())
                .ok_or_else(OAuthError::invalid_client)?;
            if params
                .get("client_id")
                .is_some_and(|body_id| !id.matches(body_id))
            {
                return Err(OAuthError::invalid_client());
            }
            (id.readings(), secret.readings())
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(OAuthError::invalid_client)?;
            (vec![id.to_owned()], vec![secret.to_owned()])
        }
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    let id_ok = any_equals(&ids, alexa.client_id.as_str());
    let secret_ok = any_equals(&secrets, alexa.client_secret.expose_secret());
    if bool::from(id_ok & secret_ok) {
        Ok(())
    } else {
        Err(OAuthError::invalid_client())
    }
}

/// Whether any candidate equals `expected`, comparing SHA-256 digests in constant time, so neither the
/// content nor the length of the expected value shows in the timing.
fn any_equals(candidates: &[String], expected: &str) -> Choice {
    let expected: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    candidates.iter().fold(Choice::from(0), |found, candidate| {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        found | candidate.ct_eq(&expected)
    })
}

/// One half of Basic credentials, as sent.
#[derive(Debug, PartialEq, Eq)]
struct BasicPart(String);

impl BasicPart {
    /// RFC 6749 §2.3.1 has clients form-urlencode the id and secret before Basic; many send them raw.
    /// Both readings are tried: a raw `a+b` must not turn into `a b`, nor an encoded `%2B` stay as is.
    fn readings(&self) -> Vec<String> {
        let decoded = form_decode(&self.0);
        if decoded == self.0 {
            vec![decoded]
        } else {
            vec![decoded, self.0.clone()]
        }
    }

    fn matches(&self, other: &str) -> bool {
        self.readings().iter().any(|reading| reading == other)
    }
}

/// `Basic base64(id:secret)`, each part possibly form-urlencoded (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(BasicPart, BasicPart)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((BasicPart(id.to_owned()), BasicPart(secret.to_owned())))
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
    use secrecy::SecretString;

    use crate::domain::{ClientId, RedirectUri};

    const ODD_SECRET: &str = "a+b/c:d%";

    fn alexa(secret: &str) -> AlexaSettings {
        AlexaSettings {
            client_id: ClientId::parse("alexa-skill").unwrap(),
            client_secret: SecretString::from(secret.to_owned()),
            redirect_uris: vec![RedirectUri::parse("https://a.example/cb").unwrap()],
        }
    }

    fn with_basic(credentials: &str, secret: &str) -> Result<(), OAuthError> {
        let header =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials))).unwrap();
        authenticate(Some(&header), &Params::default(), &alexa(secret))
    }

    fn encode(raw: &str) -> String {
        form_urlencoded::byte_serialize(raw.as_bytes()).collect()
    }

    #[test]
    fn basic_parts_are_read_both_ways() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        let (id, secret) = parse_basic(&header).unwrap();
        assert_eq!(id.readings(), ["my client", "my%20client"]);
        assert_eq!(secret.readings(), ["s:cret", "s%3Acret"]);
        assert_eq!(
            BasicPart("plain".to_owned()).readings(),
            ["plain"],
            "nothing to decode, one reading"
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn a_secret_that_needs_encoding_is_accepted_encoded_and_raw() {
        let encoded = format!("alexa-skill:{}", encode(ODD_SECRET));
        assert_eq!(encode(ODD_SECRET), "a%2Bb%2Fc%3Ad%25");
        assert!(with_basic(&encoded, ODD_SECRET).is_ok(), "encoded");
        assert!(
            with_basic(&format!("alexa-skill:{ODD_SECRET}"), ODD_SECRET).is_ok(),
            "raw"
        );
        let body = Params::parse(
            format!("client_id=alexa-skill&client_secret={}", encode(ODD_SECRET)).as_bytes(),
        )
        .unwrap();
        assert!(
            authenticate(None, &body, &alexa(ODD_SECRET)).is_ok(),
            "body"
        );
    }

    #[test]
    fn near_misses_are_refused() {
        for wrong in [
            "alexa-skill:a b/c:d%",
            "alexa-skill:a+b/c:d",
            "alexa-skill:",
            "other:a+b/c:d%",
        ] {
            assert!(with_basic(wrong, ODD_SECRET).is_err(), "{wrong}");
        }
        // A secret whose raw form is another secret's encoding is not confused with its decoding.
        assert!(with_basic("alexa-skill:a%2Bb", "a%2Bb").is_ok());
        assert!(with_basic("alexa-skill:a+b", "a%2Bb").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_header_bytes_decode_or_refuse(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let text = String::from_utf8_lossy(&raw);
            let _ = parse_basic(&format!("Basic {text}"));
            let _ = parse_basic(&format!("Basic {}", STANDARD.encode(&raw)));
        }

        #[test]
        fn encoded_credentials_round_trip(id in "[ -~]{1,40}", secret in "\\PC{1,40}") {
            let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(&id), encode(&secret))));
            let (got_id, got_secret) = parse_basic(&header).unwrap();
            proptest::prop_assert!(got_id.readings().contains(&id));
            proptest::prop_assert!(got_secret.readings().contains(&secret));
            if !id.contains(':') {
                let raw = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
                let (got_id, got_secret) = parse_basic(&raw).unwrap();
                proptest::prop_assert!(got_id.readings().contains(&id));
                proptest::prop_assert!(got_secret.readings().contains(&secret));
            }
        }
    }
}
