//! The cookie that binds Spotify's callback to the browser that started linking (RFC 6749 §10.12,
//! RFC 9700 §4.7.1), so a callback URL sent to someone else issues no code.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::{HttpRequest, HttpResponse};
use url::Url;

use crate::domain::BrowserBinding;

/// The cookie's name on a plain-HTTP broker (local runs and tests).
pub const COOKIE_NAME: &str = "broker_link";
/// The cookie's name when `server.public_url` is https: the prefix makes browsers insist on `Secure`,
/// `Path=/` and no `Domain`, so no sibling host can plant or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-broker_link";

/// How the binding cookie is named and scoped on this broker.
#[derive(Debug, Clone)]
pub struct BrowserCookie {
    secure: bool,
    max_age_s: i64,
}

impl BrowserCookie {
    /// `Secure` and `__Host-` when the public URL is https; it lives as long as a pending authorization.
    pub fn new(public_url: Option<&Url>, pending_authorization_ttl_s: i64) -> Self {
        Self {
            secure: public_url.is_some_and(|url| url.scheme() == "https"),
            max_age_s: pending_authorization_ttl_s,
        }
    }

    fn name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }

    fn build(&self, value: String, max_age_s: i64) -> Cookie<'static> {
        Cookie::build(self.name(), value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(Duration::seconds(max_age_s))
            .finish()
    }

    /// Hands `binding` to the browser on the redirect to Spotify.
    pub fn set(&self, response: &mut HttpResponse, binding: &BrowserBinding) {
        self.attach(
            response,
            self.build(binding.expose().to_owned(), self.max_age_s),
        );
    }

    /// Tells the browser to forget the cookie (on every callback answer: it is used once).
    pub fn clear(&self, response: &mut HttpResponse) {
        self.attach(response, self.build(String::new(), 0));
    }

    /// The binding the browser presented, if it has a well-formed one.
    pub fn read(&self, request: &HttpRequest) -> Option<BrowserBinding> {
        request
            .cookie(self.name())
            .and_then(|cookie| BrowserBinding::parse(cookie.value()).ok())
    }

    fn attach(&self, response: &mut HttpResponse, cookie: Cookie<'static>) {
        if let Err(err) = response.add_cookie(&cookie) {
            tracing::error!(error = %err, "could not set the linking cookie");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::SET_COOKIE;

    fn set_cookie(cookie: &BrowserCookie) -> String {
        let mut response = HttpResponse::Found().finish();
        cookie.set(&mut response, &BrowserBinding::generate());
        response
            .headers()
            .get(SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn plain_http_cookie_is_http_only_and_lax() {
        let header = set_cookie(&BrowserCookie::new(None, 600));
        assert!(header.starts_with("broker_link=bbb_"), "{header}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
            assert!(header.contains(attribute), "{attribute} in {header}");
        }
        assert!(!header.contains("Secure"), "{header}");
    }

    #[test]
    fn https_cookie_is_secure_and_host_prefixed() {
        let url = Url::parse("https://broker.example").unwrap();
        let header = set_cookie(&BrowserCookie::new(Some(&url), 600));
        assert!(header.starts_with("__Host-broker_link=bbb_"), "{header}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
            assert!(header.contains(attribute), "{attribute} in {header}");
        }
        assert!(!header.contains("Domain"), "{header}");
    }

    #[test]
    fn clearing_expires_the_cookie() {
        let mut response = HttpResponse::Found().finish();
        BrowserCookie::new(None, 600).clear(&mut response);
        let header = response
            .headers()
            .get(SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            header.starts_with("broker_link=;") && header.contains("Max-Age=0"),
            "{header}"
        );
    }
}
