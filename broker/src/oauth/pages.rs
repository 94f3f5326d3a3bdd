//! The pages a person sees while linking, when linking cannot go on: real HTML in the person's language
//! (from `Accept-Language`, English by default), in plain words with what to do next, readable on a
//! phone. The words live in Fluent catalogues, `broker/locales/<lang>/pages.ftl`.

use std::sync::LazyLock;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use fluent_bundle::FluentResource;
use fluent_bundle::concurrent::FluentBundle;
use fluent_langneg::{NegotiationStrategy, accepted_languages, negotiate_languages};
use unic_langid::LanguageIdentifier;

use super::error::no_store;

/// Each locale's catalogue, English first (the default).
const CATALOGUES: [(&str, &str); 2] = [
    ("en", include_str!("../../locales/en/pages.ftl")),
    ("de", include_str!("../../locales/de/pages.ftl")),
];

/// Why linking stopped, as the person is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Spotify refused the account: it is not on the development-mode app's allowlist.
    NotOnAllowlist,
    /// Spotify refuses the whole app: its owner's Premium lapsed.
    OwnerLacksPremium,
    /// The callback came without the browser binding of the browser that started linking.
    WrongBrowser,
    /// The linking attempt is unknown, used or expired.
    AttemptExpired,
    /// The request names an unknown client or redirect URI, or is malformed.
    UntrustedRequest,
    /// Too many attempts from here in the last minute.
    TooManyAttempts,
    /// The broker's store or Spotify is not answering.
    Unavailable,
}

impl Page {
    /// Every page, for tests and catalogue checks.
    pub const ALL: [Self; 7] = [
        Self::NotOnAllowlist,
        Self::OwnerLacksPremium,
        Self::WrongBrowser,
        Self::AttemptExpired,
        Self::UntrustedRequest,
        Self::TooManyAttempts,
        Self::Unavailable,
    ];

    /// The message id prefix in the catalogues.
    pub fn id(self) -> &'static str {
        match self {
            Self::NotOnAllowlist => "not-on-allowlist",
            Self::OwnerLacksPremium => "owner-lacks-premium",
            Self::WrongBrowser => "wrong-browser",
            Self::AttemptExpired => "attempt-expired",
            Self::UntrustedRequest => "untrusted-request",
            Self::TooManyAttempts => "too-many-attempts",
            Self::Unavailable => "unavailable",
        }
    }
}

struct Catalogue {
    locales: Vec<LanguageIdentifier>,
    bundles: Vec<FluentBundle<FluentResource>>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let mut locales = Vec::new();
    let mut bundles = Vec::new();
    for (tag, source) in CATALOGUES {
        let Ok(locale) = tag.parse::<LanguageIdentifier>() else {
            continue;
        };
        let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(partial, _)| {
            tracing::error!(locale = tag, "a page catalogue does not parse");
            partial
        });
        let mut bundle = FluentBundle::new_concurrent(vec![locale.clone()]);
        bundle.set_use_isolating(false);
        if bundle.add_resource(resource).is_err() {
            tracing::error!(locale = tag, "a page catalogue repeats a message");
        }
        locales.push(locale);
        bundles.push(bundle);
    }
    Catalogue { locales, bundles }
});

impl Catalogue {
    /// The bundles to look in for a request's `Accept-Language`, best first, English last.
    fn negotiate(&self, accept_language: &str) -> Vec<&FluentBundle<FluentResource>> {
        let requested = accepted_languages::parse(accept_language);
        let default = self.locales.first();
        negotiate_languages(
            &requested,
            &self.locales,
            default,
            NegotiationStrategy::Filtering,
        )
        .into_iter()
        .filter_map(|locale| {
            self.locales
                .iter()
                .position(|l| l == locale)
                .and_then(|i| self.bundles.get(i))
        })
        .collect()
    }
}

/// A message from the first bundle that has it.
fn text(bundles: &[&FluentBundle<FluentResource>], id: &str) -> String {
    for bundle in bundles {
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            return bundle
                .format_pattern(pattern, None, &mut errors)
                .into_owned();
        }
    }
    tracing::error!(
        message = id,
        "a page message is missing from every catalogue"
    );
    String::new()
}

/// The words of one page in the best language for `accept_language`: (language, title, what
/// happened, what to do next).
pub fn words(page: Page, accept_language: &str) -> (String, String, String, String) {
    let bundles = CATALOGUE.negotiate(accept_language);
    let lang = bundles
        .first()
        .and_then(|b| b.locales.first())
        .map_or_else(|| "en".to_owned(), ToString::to_string);
    let id = page.id();
    (
        lang,
        text(&bundles, &format!("{id}-title")),
        text(&bundles, &format!("{id}-what")),
        text(&bundles, &format!("{id}-next")),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
    background:#f6f6f6;color:#191414;line-height:1.5}\
    main{max-width:32rem;margin:0 auto;padding:2rem 1.25rem}\
    .kicker{color:#1db954;font-weight:600;font-size:.9rem;margin:0 0 .5rem}\
    h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}\
    p{font-size:1.05rem;margin:0 0 1rem}\
    .next{background:#fff;border-left:4px solid #1db954;padding:.75rem 1rem;border-radius:4px}";

/// The page for `page` in the request's language, with `status`, never cached.
pub fn render(request: &HttpRequest, status: StatusCode, page: Page) -> HttpResponse {
    let accept_language = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (lang, title, what, next) = words(page, accept_language);
    let prefix = text(&CATALOGUE.negotiate(accept_language), "page-heading-prefix");
    let mut response = HttpResponse::build(status);
    no_store(&mut response);
    response
        .insert_header((header::CONTENT_LANGUAGE, lang.clone()))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Language")))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}</style>\
             </head><body><main><p class=\"kicker\">{prefix}</p><h1>{title}</h1><p id=\"what\">{what}</p>\
             <p class=\"next\" id=\"next\">{next}</p></main></body></html>",
            lang = escape(&lang),
            title = escape(&title),
            prefix = escape(&prefix),
            what = escape(&what),
            next = escape(&next),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_its_words_in_every_locale() {
        for (tag, _) in CATALOGUES {
            for page in Page::ALL {
                let bundle = CATALOGUE
                    .bundles
                    .iter()
                    .find(|b| b.locales.first().is_some_and(|l| *l == tag));
                let Some(bundle) = bundle else {
                    panic!("no bundle for {tag}");
                };
                for part in ["title", "what", "next"] {
                    let id = format!("{}-{part}", page.id());
                    assert!(bundle.has_message(&id), "{tag} lacks {id}");
                }
            }
        }
    }

    #[test]
    fn the_language_follows_accept_language() {
        let title = |accept: &str| words(Page::AttemptExpired, accept);
        assert_eq!(title("de-DE,de;q=0.9,en;q=0.8").0, "de");
        assert_eq!(title("de-AT").0, "de");
        assert_eq!(title("en-GB,en;q=0.9").0, "en");
        assert_eq!(title("fr-FR").0, "en", "english when nothing fits");
        assert_eq!(title("").0, "en");
        assert_eq!(title("fr;q=0.9,de;q=0.8").0, "de");
        assert_ne!(title("de").1, title("en").1);
    }
}
