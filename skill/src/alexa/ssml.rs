//! Turning plain text (including names that come from Spotify) into SSML and text that always fit Alexa's limits.

/// Alexa's limit on the characters of speech (SSML markup included) and of card text.
pub const MAX_SPEECH_CHARS: usize = 8000;

/// A size budget for one piece of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// At most this many characters.
    pub max_chars: usize,
    /// At most this many bytes once JSON-encoded (keeps the whole response within 24 KB).
    pub max_json_bytes: usize,
}

const ELLIPSIS: char = '…';

/// Escapes text for use inside SSML: control characters become spaces, characters XML 1.0 forbids or
/// discourages (non-characters such as U+FFFE and U+FFFF) are dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in sanitized(text) {
        push_escaped(&mut out, c);
    }
    out
}

/// Whether `c` is a Unicode non-character (U+FDD0..U+FDEF, and the last two code points of every
/// plane, U+FFFE and U+FFFF among them): illegal or discouraged in XML, never meant for text.
fn is_noncharacter(c: char) -> bool {
    let code = c as u32;
    (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE
}

/// The characters of `text` that may reach SSML or a card. Rust strings hold no surrogates; a lone
/// surrogate escaped in JSON (`"\uD800"`) is refused by the JSON parser before text gets here.
fn sanitized(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|c| !is_noncharacter(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        c => out.push(c),
    }
}

fn json_bytes(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// Writes `text` between `open` and `close`, escaping each character with `escape_char`, cutting it
/// (with an ellipsis) where the next character would break `limit`.
fn fit(
    text: &str,
    open: &str,
    close: &str,
    limit: Limit,
    escape_char: fn(&mut String, char),
) -> String {
    let fixed_chars = open.chars().count() + close.chars().count() + 1;
    // Two more bytes for the JSON string's quotes.
    let fixed_bytes = json_bytes(open) + json_bytes(close) + ELLIPSIS.len_utf8() + 2;
    let avail_chars = limit.max_chars.saturating_sub(fixed_chars);
    let avail_bytes = limit.max_json_bytes.saturating_sub(fixed_bytes);

    let mut out = String::from(open);
    let (mut chars, mut bytes) = (0usize, 0usize);
    let mut piece = String::new();
    let mut truncated = false;
    for c in sanitized(text) {
        piece.clear();
        escape_char(&mut piece, c);
        let (pc, pb) = (piece.chars().count(), json_bytes(&piece));
        if chars + pc > avail_chars || bytes + pb > avail_bytes {
            truncated = true;
            break;
        }
        chars += pc;
        bytes += pb;
        out.push_str(&piece);
    }
    if truncated {
        let kept = out.trim_end().len();
        out.truncate(kept);
        out.push(ELLIPSIS);
    }
    out.push_str(close);
    out
}

/// A piece of SSML to speak: trusted markup from the skill's message catalogues, with every value
/// that came from elsewhere (Spotify names, what the user said) escaped on the way in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ssml(String);

impl Ssml {
    /// Plain text, escaped.
    pub fn text(plain: &str) -> Self {
        Self(escape(plain))
    }

    /// Markup the skill wrote itself (its catalogues); never text from outside.
    pub(crate) fn trusted(markup: String) -> Self {
        Self(markup)
    }

    /// The markup, without `<speak>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// `self`, a space, then `more`.
    pub fn then(self, more: &Ssml) -> Self {
        match (self.is_empty(), more.is_empty()) {
            (true, _) => more.clone(),
            (_, true) => self,
            _ => Self(format!("{} {}", self.0, more.0)),
        }
    }
}

impl std::fmt::Display for Ssml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The units markup is cut at: a whole tag, a whole entity, or one character.
fn markup_units(markup: &str) -> Vec<&str> {
    let mut units = Vec::new();
    let mut rest = markup;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            '<' => rest.find('>').map_or(rest.len(), |end| end + 1),
            '&' => rest
                .find(';')
                .filter(|end| *end <= 10)
                .map_or(c.len_utf8(), |end| end + 1),
            c => c.len_utf8(),
        };
        let (unit, tail) = rest.split_at(len);
        units.push(unit);
        rest = tail;
    }
    units
}

/// `<speak>…</speak>` around trusted `markup`, cut (with an ellipsis) between whole tags and entities
/// to fit `limit`. Catalogues use only self-closing tags, so a cut never leaves a tag open.
pub fn wrap_ssml(markup: &Ssml, limit: Limit) -> String {
    let (open, close) = ("<speak>", "</speak>");
    let fixed_chars = open.len() + close.len() + 1;
    let fixed_bytes = json_bytes(open) + json_bytes(close) + ELLIPSIS.len_utf8() + 2;
    let avail_chars = limit.max_chars.saturating_sub(fixed_chars);
    let avail_bytes = limit.max_json_bytes.saturating_sub(fixed_bytes);
    let mut out = String::from(open);
    let (mut chars, mut bytes) = (0usize, 0usize);
    let mut truncated = false;
    for unit in markup_units(&markup.0) {
        let unit: String = sanitized(unit).collect();
        let (uc, ub) = (unit.chars().count(), json_bytes(&unit));
        if chars + uc > avail_chars || bytes + ub > avail_bytes {
            truncated = true;
            break;
        }
        chars += uc;
        bytes += ub;
        out.push_str(&unit);
    }
    if truncated {
        let kept = out.trim_end().len();
        out.truncate(kept);
        out.push(ELLIPSIS);
    }
    out.push_str(close);
    out
}

/// `<speak>…</speak>` for plain `text`, escaped and cut to fit `limit`.
pub fn to_ssml(text: &str, limit: Limit) -> String {
    fit(text, "<speak>", "</speak>", limit, push_escaped)
}

/// Plain `text` (for cards) cut to fit `limit`.
pub fn to_plain(text: &str, limit: Limit) -> String {
    fit(text, "", "", limit, |out, c| out.push(c))
}

/// "A", "A and B", "A, B and C".
pub fn spoken_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Cuts a single name (a track or playlist title) to `max_chars`, with an ellipsis.
pub fn short_name(name: &str, max_chars: usize) -> String {
    let name = name.trim();
    if name.chars().count() <= max_chars {
        return name.to_owned();
    }
    let mut cut: String = name.chars().take(max_chars.saturating_sub(1)).collect();
    let kept = cut.trim_end().len();
    cut.truncate(kept);
    cut.push(ELLIPSIS);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Limit = Limit {
        max_chars: MAX_SPEECH_CHARS,
        max_json_bytes: 9000,
    };

    /// A minimal well-formedness check: every tag closes, every entity is one of XML's five.
    fn assert_well_formed_ssml(ssml: &str) {
        assert!(
            ssml.starts_with("<speak>") && ssml.ends_with("</speak>"),
            "{ssml}"
        );
        let inner = &ssml["<speak>".len()..ssml.len() - "</speak>".len()];
        assert!(!inner.contains('<') && !inner.contains('>'), "{inner}");
        let mut rest = inner;
        while let Some(at) = rest.find('&') {
            let tail = &rest[at..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| tail.starts_with(e)),
                "bad entity in {inner}"
            );
            rest = &tail[1..];
        }
    }

    #[test]
    fn spotify_names_are_escaped() {
        let ssml = to_ssml("Playing Rock & <Roll> \"Live\" Tom's", BIG);
        assert_eq!(
            ssml,
            "<speak>Playing Rock &amp; &lt;Roll&gt; &quot;Live&quot; Tom&apos;s</speak>"
        );
        assert_well_formed_ssml(&ssml);
        assert_well_formed_ssml(&to_ssml("<speak><audio src=\"x\"/></speak>", BIG));
    }

    #[test]
    fn control_characters_are_dropped() {
        assert_eq!(escape("a\u{0}b\nc"), "a b c");
    }

    #[test]
    fn characters_illegal_in_xml_never_reach_ssml() {
        let text = "a\u{FFFE}b\u{FFFF}c\u{FDD0}d\u{1FFFF}e\u{10FFFE}f\u{B}g\u{7F}h";
        assert_eq!(escape(text), "abcdef g h");
        assert_eq!(to_ssml(text, BIG), "<speak>abcdef g h</speak>");
        assert_eq!(to_plain(text, BIG), "abcdef g h");
        // Legal neighbours stay: the last character of the BMP before U+FFFE, astral letters.
        assert_eq!(
            escape("\u{FFFD}\u{1F3B5}\u{E000}"),
            "\u{FFFD}\u{1F3B5}\u{E000}"
        );
        let everything: String = (0u32..=0x11_0000).filter_map(char::from_u32).collect();
        let ssml = to_ssml(
            &everything,
            Limit {
                max_chars: usize::MAX,
                max_json_bytes: usize::MAX,
            },
        );
        assert!(ssml.chars().all(|c| {
            let code = c as u32;
            matches!(code, 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
                && !is_noncharacter(c)
        }));
        assert_well_formed_ssml(&ssml);
    }

    #[test]
    fn lone_surrogates_in_json_are_refused_before_they_can_reach_ssml() {
        for raw in [r#""\uD800""#, r#""a\uDC00b""#, r#""\uD800\u0041""#] {
            // Refused or replaced, never a panic and never a surrogate in a `String`.
            if let Ok(text) = serde_json::from_str::<String>(raw) {
                assert_well_formed_ssml(&to_ssml(&text, BIG));
            }
        }
    }

    #[test]
    fn long_text_is_cut_within_limits_without_breaking_entities() {
        let text = "&".repeat(10_000);
        let ssml = to_ssml(&text, BIG);
        assert!(ssml.chars().count() <= MAX_SPEECH_CHARS);
        assert!(ssml.ends_with("…</speak>"));
        assert_well_formed_ssml(&ssml);

        let emoji = "🎵".repeat(10_000);
        let ssml = to_ssml(&emoji, BIG);
        assert!(serde_json::to_string(&ssml).unwrap().len() <= 9000);

        let quotes = "\"".repeat(10_000);
        let plain = to_plain(&quotes, BIG);
        assert!(serde_json::to_string(&plain).unwrap().len() <= 9000);
        assert!(plain.chars().count() <= MAX_SPEECH_CHARS);
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(to_plain("hello", BIG), "hello");
    }

    #[test]
    fn lists_read_naturally() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(spoken_list(&names(&["A"])), "A");
        assert_eq!(spoken_list(&names(&["A", "B"])), "A and B");
        assert_eq!(spoken_list(&names(&["A", "B", "C"])), "A, B and C");
        assert_eq!(short_name("abcdef", 4), "abc…");
    }
}
