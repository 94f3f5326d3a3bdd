//! Speech in the user's language: Fluent message catalogues (embedded at build time) chosen by the
//! request's locale, with every value escaped for SSML before it is placed into a message.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

use crate::alexa::ssml::{self, Ssml};

const EN_US: &str = include_str!("../locales/en-US.ftl");
const DE_DE: &str = include_str!("../locales/de-DE.ftl");

/// The locales the skill speaks (each has an interaction model in the skill package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    /// English (United States), the fallback.
    EnUs,
    /// English (United Kingdom).
    EnGb,
    /// English (Canada).
    EnCa,
    /// English (Australia).
    EnAu,
    /// English (India).
    EnIn,
    /// German (Germany).
    DeDe,
}

impl Locale {
    /// Every supported locale.
    pub const ALL: [Locale; 6] = [
        Self::EnUs,
        Self::EnGb,
        Self::EnCa,
        Self::EnAu,
        Self::EnIn,
        Self::DeDe,
    ];

    /// The BCP 47 tag Alexa uses.
    pub fn tag(self) -> &'static str {
        match self {
            Self::EnUs => "en-US",
            Self::EnGb => "en-GB",
            Self::EnCa => "en-CA",
            Self::EnAu => "en-AU",
            Self::EnIn => "en-IN",
            Self::DeDe => "de-DE",
        }
    }

    /// The locale of a request (`request.locale`): an exact match, else the language's first
    /// locale, else en-US.
    pub fn from_tag(tag: Option<&str>) -> Self {
        let Some(tag) = tag.map(str::trim) else {
            return Self::EnUs;
        };
        if let Some(exact) = Self::ALL.iter().find(|l| l.tag().eq_ignore_ascii_case(tag)) {
            return *exact;
        }
        let language = tag.split(['-', '_']).next().unwrap_or_default();
        if language.eq_ignore_ascii_case("de") {
            Self::DeDe
        } else {
            Self::EnUs
        }
    }

    /// Whether the locale speaks German.
    pub fn is_german(self) -> bool {
        self == Self::DeDe
    }

    /// The words that join the last two items of a list ("A, B and C").
    fn and_word(self) -> &'static str {
        if self.is_german() { " und " } else { " and " }
    }

    /// The words before the last choice of a question ("A, B, or C").
    fn or_word(self) -> &'static str {
        if self.is_german() { " oder " } else { ", or " }
    }

    /// The word between a title and its artist in "play Kind of Blue by Miles Davis".
    pub fn by_word(self) -> &'static str {
        if self.is_german() { " von " } else { " by " }
    }
}

/// One value to place into a message.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Text from outside the catalogue (escaped for speech).
    Text(&'a str),
    /// A number (selects plural forms).
    Number(i64),
}

type Bundle = FluentBundle<FluentResource>;

fn bundle(locale: Locale, source: &'static str) -> Bundle {
    let id: LanguageIdentifier = locale.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Unicode isolation marks would be read aloud by some voices and break SSML comparisons.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(source.to_owned()) {
        Ok(resource) => resource,
        Err((resource, errors)) => {
            tracing::error!(
                locale = locale.tag(),
                ?errors,
                "message catalogue has errors"
            );
            resource
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            locale = locale.tag(),
            ?errors,
            "message catalogue has duplicates"
        );
    }
    bundle
}

static BUNDLES: LazyLock<Vec<(Locale, Bundle)>> = LazyLock::new(|| {
    Locale::ALL
        .iter()
        .map(|l| (*l, bundle(*l, if l.is_german() { DE_DE } else { EN_US })))
        .collect()
});

static FALLBACK: LazyLock<Bundle> = LazyLock::new(|| bundle(Locale::EnUs, EN_US));

/// The catalogue for one request's locale.
#[derive(Debug, Clone, Copy)]
pub struct Messages {
    locale: Locale,
}

impl Messages {
    /// Messages in `locale`.
    pub fn new(locale: Locale) -> Self {
        Self { locale }
    }

    /// The locale spoken.
    pub fn locale(&self) -> Locale {
        self.locale
    }

    fn format(&self, id: &str, args: &[(&str, Arg<'_>)], escape: bool) -> String {
        let own = BUNDLES
            .iter()
            .find(|(l, _)| *l == self.locale)
            .map(|(_, b)| b);
        let found = own
            .and_then(|b| b.get_message(id).map(|m| (b, m)))
            .or_else(|| FALLBACK.get_message(id).map(|m| (&*FALLBACK, m)));
        let Some((bundle, pattern)) = found.and_then(|(b, m)| m.value().map(|p| (b, p))) else {
            tracing::error!(id, "message missing from every catalogue");
            return String::new();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Text(text) => {
                    let text = if escape {
                        ssml::escape(text)
                    } else {
                        (*text).to_owned()
                    };
                    fluent_args.set(*name, FluentValue::from(text));
                }
                Arg::Number(n) => fluent_args.set(*name, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::error!(id, ?errors, "message could not be formatted");
        }
        text.into_owned()
    }

    /// A message to speak, its values escaped (the catalogue's own markup is kept).
    pub fn speak(&self, id: &str, args: &[(&str, Arg<'_>)]) -> Ssml {
        Ssml::trusted(self.format(id, args, true))
    }

    /// A message as plain text (cards), its values as they are: the catalogue's SSML tags are
    /// dropped (values are escaped while formatting, so none of their text looks like a tag).
    pub fn text(&self, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        let markup = self.format(id, args, true);
        let mut plain = String::with_capacity(markup.len());
        let mut in_tag = false;
        for c in markup.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => plain.push(c),
                _ => {}
            }
        }
        plain
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }

    /// "A", "A and B", "A, B and C" in the locale's words.
    pub fn and_list(&self, items: &[String]) -> String {
        join(items, self.locale.and_word())
    }

    /// "A", "A, or B", "A, B, or C" in the locale's words.
    pub fn or_list(&self, items: &[String]) -> String {
        join(items, self.locale.or_word())
    }
}

fn join(items: &[String], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., tail] => format!("{}{last}{tail}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn ids(source: &str) -> BTreeSet<String> {
        let resource = FluentResource::try_new(source.to_owned()).unwrap();
        resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn catalogues_parse_and_hold_the_same_messages() {
        assert_eq!(ids(EN_US), ids(DE_DE));
        assert!(ids(EN_US).len() > 80);
    }

    #[test]
    fn catalogues_use_only_self_closing_tags() {
        for source in [EN_US, DE_DE] {
            for line in source.lines().filter(|l| !l.starts_with('#')) {
                for tag in line.split('<').skip(1) {
                    let tag = tag.split('>').next().unwrap();
                    assert!(tag.ends_with('/'), "{line}");
                }
                assert!(!line.contains('&'), "a bare & is not SSML: {line}");
            }
        }
    }

    #[test]
    fn locales_are_chosen_with_a_fallback() {
        assert_eq!(Locale::from_tag(Some("de-DE")), Locale::DeDe);
        assert_eq!(Locale::from_tag(Some("de-AT")), Locale::DeDe);
        assert_eq!(Locale::from_tag(Some("en-gb")), Locale::EnGb);
        assert_eq!(Locale::from_tag(Some("fr-FR")), Locale::EnUs);
        assert_eq!(Locale::from_tag(None), Locale::EnUs);
    }

    #[test]
    fn values_are_escaped_and_markup_kept_in_every_locale() {
        for locale in Locale::ALL {
            let messages = Messages::new(locale);
            let spoken = messages.speak("now-track", &[("name", Arg::Text("Rock & <Roll>"))]);
            assert!(
                spoken.as_str().contains("Rock &amp; &lt;Roll&gt;"),
                "{locale:?}: {spoken}"
            );
            assert!(!spoken.as_str().contains('\u{2068}'), "no isolation marks");
            let launch = messages.speak("launch-failed", &[]);
            assert!(launch.as_str().starts_with("<break time=\"300ms\"/>"));
            assert!(!messages.text("launch-failed", &[]).contains('<'));
            let card = messages.text("card-playlist", &[("name", Arg::Text("A &amp; <B>"))]);
            assert!(card.ends_with("A &amp; <B>"), "{card}");
        }
        let german = Messages::new(Locale::DeDe);
        assert_eq!(
            german
                .speak(
                    "devices-list",
                    &[("count", Arg::Number(1)), ("list", Arg::Text("Küche"))]
                )
                .as_str(),
            "Du hast ein Spotify-Gerät: Küche."
        );
        assert_eq!(german.and_list(&["A".into(), "B".into()]), "A und B");
        let english = Messages::new(Locale::EnAu);
        assert_eq!(english.or_list(&["A".into(), "B".into()]), "A, or B");
    }
}
