//! The production log format: one JSON object per line, written straight into the line buffer.
//!
//! The shape is tracing-subscriber's flattened JSON with the current span: `timestamp`, `level`, the
//! event's fields (`message` first), `target`, then `span` with the span's fields and `name`. It is
//! written field by field, where tracing-subscriber's own JSON format builds a map per event and parses
//! the span's fields back from text on every line; at one access line per request that was the largest
//! cost of a cached answer.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as JSON lines (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLine;

/// Formats a span's fields as the inside of a JSON object (`"a":1,"b":"x"`), kept with the span and
/// copied into each of its events' lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonFields;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records bridged from the `log` crate carry their real target in `log.*` fields.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, std::time::SystemTime::now())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(metadata.level().as_str())?;
        writer.write_char('"')?;
        let mut fields = FieldWriter::new(writer.by_ref(), false);
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        write_json_str(&mut writer, metadata.target())?;
        if let Some(span) = ctx.parent_span() {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>()
                && !fields.is_empty()
            {
                writer.write_str(fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            write_json_str(&mut writer, span.name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldWriter::new(writer, true);
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &Record<'_>,
    ) -> fmt::Result {
        let first = current.is_empty();
        let mut visitor = FieldWriter::new(current.as_writer(), first);
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes each field as `"name":value`, separated by commas (and preceded by one unless `first`).
struct FieldWriter<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl<'a> FieldWriter<'a> {
    fn new(writer: Writer<'a>, first: bool) -> Self {
        Self {
            writer,
            first,
            result: Ok(()),
        }
    }

    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'a>) -> fmt::Result) {
        // The `log` bridge's own fields become the line's target, not fields.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = write_field(&mut self.writer, separator, field.name(), value);
    }
}

fn write_field<'a>(
    writer: &mut Writer<'a>,
    separator: &str,
    name: &str,
    value: impl FnOnce(&mut Writer<'a>) -> fmt::Result,
) -> fmt::Result {
    write_key(writer, separator, name)?;
    value(writer)
}

/// `{separator}"{name}":`, in one write when the name needs no escaping (field names are identifiers,
/// so nearly always): the writer is behind a `dyn`, and a line has a handful of fields.
fn write_key(writer: &mut impl fmt::Write, separator: &str, name: &str) -> fmt::Result {
    let mut key = [0u8; 64];
    let pieces = [separator, "\"", name, "\":"];
    let length: usize = pieces.iter().map(|piece| piece.len()).sum();
    let plain = name
        .bytes()
        .all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\');
    if !plain || length > key.len() {
        writer.write_str(separator)?;
        write_json_str(writer, name)?;
        return writer.write_char(':');
    }
    let mut at = 0;
    for piece in pieces {
        key[at..at + piece.len()].copy_from_slice(piece.as_bytes());
        at += piece.len();
    }
    // Whole `str`s joined end to end are UTF-8.
    writer.write_str(std::str::from_utf8(&key[..length]).map_err(|_| fmt::Error)?)
}

impl Visit for FieldWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, |w| {
            if value.is_finite() {
                write!(w, "{value}")
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |w| write_json_str(w, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value}")?;
            w.write_char('"')
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// `at` in RFC 3339 with microseconds, UTC (`2026-12-01T15:04:41.123456Z`, as tracing-subscriber's own
/// `SystemTime`). Each thread keeps the text of the current second, so a line formats only its
/// microseconds: calendar formatting was a tenth of the access line's cost.
fn write_timestamp(writer: &mut impl fmt::Write, at: std::time::SystemTime) -> fmt::Result {
    thread_local! {
        static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let since_epoch = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (cached_second, mut prefix) = SECOND.get();
    let micros = since_epoch.subsec_micros();
    if cached_second != seconds {
        let utc = i64::try_from(seconds)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, micros * 1_000))
            .unwrap_or_default();
        let whole = utc.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match whole
            .get(..19)
            .map(|text| <[u8; 19]>::try_from(text.as_bytes()))
        {
            Some(Ok(text)) if whole.len() == 27 => {
                prefix = text;
                SECOND.set((seconds, prefix));
            }
            // A year past 9999 (a clock gone wrong): the whole text, not cached, rather than no line.
            _ => return writer.write_str(&whole),
        }
    }
    let mut digits = [b'0'; 8];
    digits[0] = b'.';
    digits[7] = b'Z';
    let mut rest = micros;
    for digit in digits[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Both are ASCII by construction.
    writer.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    writer.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
}

/// `value` as a JSON string literal.
pub fn write_json_str(writer: &mut impl fmt::Write, value: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaped(writer).write_str(value)?;
    writer.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string literal (RFC 8259 section 7).
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain_from = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            // Only ASCII bytes are escaped, so `at` is always a character boundary.
            self.0.write_str(&text[plain_from..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain_from = at + 1;
        }
        self.0.write_str(&text[plain_from..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(lines.clone())
            .fmt_fields(JsonFields)
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn an_event_in_a_span_is_one_flat_object_with_its_span() {
        let lines = logged(|| {
            let span = tracing::info_span!("request", request_id = %"r-1");
            span.in_scope(|| {
                tracing::info!(
                    target: "access",
                    method = %"GET",
                    route = "/v1/link",
                    status = 200u16,
                    latency_us = 42u64,
                    ok = true,
                    ratio = 0.5,
                    "request"
                );
            });
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "request");
        assert_eq!(line["target"], "access");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["route"], "/v1/link");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_us"], 42);
        assert_eq!(line["ok"], true);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["span"]["request_id"], "r-1");
        assert_eq!(line["span"]["name"], "request");
        assert!(
            chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok(),
            "{line}"
        );
    }

    #[test]
    fn outside_a_span_there_is_no_span_and_awkward_text_stays_json() {
        let lines = logged(|| {
            let error = std::io::Error::other("quote \" backslash \\ newline \n bell \u{7}");
            tracing::warn!(error = %error, debug = ?"tab\t", nan = f64::NAN, "odd \"text\"");
        });
        let line = &lines[0];
        assert!(line.get("span").is_none(), "{line}");
        assert_eq!(line["message"], "odd \"text\"");
        assert_eq!(line["error"], "quote \" backslash \\ newline \n bell \u{7}");
        assert_eq!(line["debug"], "\"tab\\t\"");
        assert!(line["nan"].is_null());
    }

    #[test]
    fn fields_recorded_later_join_the_span() {
        let lines = logged(|| {
            let span = tracing::info_span!("request", first = 1u64, later = tracing::field::Empty);
            span.record("later", "x");
            span.in_scope(|| tracing::info!("inside"));
        });
        assert_eq!(lines[0]["span"]["first"], 1);
        assert_eq!(lines[0]["span"]["later"], "x");
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds_within_and_across_seconds() {
        let at = |secs: u64, micros: u32| {
            let mut text = String::new();
            write_timestamp(
                &mut text,
                std::time::UNIX_EPOCH + std::time::Duration::new(secs, micros * 1_000),
            )
            .unwrap();
            text
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(1_764_601_481, 123_456), "2025-12-01T15:04:41.123456Z");
        assert_eq!(at(1_764_601_481, 7), "2025-12-01T15:04:41.000007Z");
        assert_eq!(at(1_764_601_482, 999_999), "2025-12-01T15:04:42.999999Z");
        assert_eq!(at(1_798_761_599, 0), "2026-12-31T23:59:59.000000Z");
        assert_eq!(at(1_764_601_481, 5), "2025-12-01T15:04:41.000005Z");
        assert_eq!(at(253_402_300_800, 1), "+10000-01-01T00:00:00.000001Z");
        assert_eq!(at(1_764_601_481, 6), "2025-12-01T15:04:41.000006Z");
    }

    proptest! {
        #[test]
        fn any_text_round_trips_through_a_json_string(text in any::<String>()) {
            let mut quoted = String::new();
            write_json_str(&mut quoted, &text).unwrap();
            prop_assert_eq!(serde_json::from_str::<String>(&quoted).unwrap(), text);
        }

        #[test]
        fn any_field_name_is_a_json_key(name in any::<String>(), first in any::<bool>()) {
            let mut object = String::from(if first { "{" } else { "{\"a\":0" });
            write_key(&mut object, if first { "" } else { "," }, &name).unwrap();
            object.push_str("1}");
            let parsed: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&object).unwrap();
            prop_assert_eq!(&parsed[&name], &serde_json::json!(1));
        }
    }
}
