//! How results are printed, the same way by every command: text (one line
//! per result, values escaped so that lines can always be parsed), JSON, or
//! values' raw bytes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use kv_core::value_text::from_text;
use serde::Serialize;

pub(crate) use crate::cli::OutputFormat;
pub(crate) use crate::human::count;

/// The mark before a value that is not UTF-8, written in base64, in text.
pub(crate) const BASE64_MARK: &str = "base64:";

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    /// Text, JSON or raw bytes.
    pub(crate) format: OutputFormat,
    /// Whether stdout is a terminal.
    pub(crate) out_is_terminal: bool,
}

impl Printer {
    /// Whether results are printed as JSON.
    pub(crate) fn is_json(&self) -> bool {
        self.format == OutputFormat::Json
    }
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json(out: &mut dyn Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// `text` on one line: a backslash, a newline, a tab and every other
/// control character escaped as Rust and C write them (`\\`, `\n`, `\t`,
/// `\x1b`, `\u{85}`), so that the line holds it whole.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    let needs = |c: char| c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A value as text mode prints it: escaped, or `base64:` and its base64
/// when it is not UTF-8. A text value that itself starts with `base64:` has
/// its `b` escaped (`\x62`), so the mark is never ambiguous.
pub(crate) fn value_text<'a>(text: &'a str, encoding: Option<&str>) -> Cow<'a, str> {
    if encoding == Some(kv_core::value_text::BASE64) {
        return Cow::Owned(format!("{BASE64_MARK}{text}"));
    }
    let escaped = escape(text);
    match escaped.strip_prefix(BASE64_MARK) {
        Some(rest) => Cow::Owned(format!("\\x62{}", &BASE64_MARK[1..]) + rest),
        None => escaped,
    }
}

/// A value as `-o raw` prints it: its exact bytes.
///
/// # Errors
///
/// The server sent invalid base64.
pub(crate) fn value_bytes(text: &str, encoding: Option<&str>) -> std::io::Result<Vec<u8>> {
    from_text(text, encoding).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the server sent a value this client cannot read: {e}"),
        )
    })
}

/// Reports a missing key on `err`; the exit code: found or not.
pub(crate) fn found_or_not(found: bool, key: &str, err: &mut dyn Write) -> std::io::Result<u8> {
    if found {
        return Ok(crate::exit::EXIT_OK);
    }
    writeln!(err, "key not found: {}", escape(key))?;
    Ok(crate::exit::EXIT_NOT_FOUND)
}

/// A spinner counting keys `what`, with a rate people can read (drawn on
/// stderr only when it is a terminal).
pub(crate) fn progress(what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {human_pos} keys {msg} ({rate})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", crate::human::rate(state.per_sec()));
            },
        );
    bar.set_style(style);
    bar.set_message(what);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_stay_on_one_line() {
        assert_eq!(escape("plain ✓ value"), "plain ✓ value");
        assert_eq!(
            escape("line1\nline2}, val: fake"),
            "line1\\nline2}, val: fake"
        );
        assert_eq!(
            escape("a\\nb\tc\r\u{1b}[31m\u{7f}\u{85}"),
            "a\\\\nb\\tc\\r\\x1b[31m\\x7f\\u{85}"
        );
        assert_eq!(escape("\u{2028}"), "\\u{2028}");
    }

    #[test]
    fn base64_values_are_marked_unambiguously() {
        assert_eq!(value_text("/w==", Some("base64")), "base64:/w==");
        assert_eq!(value_text("base64:AA==", None), "\\x62ase64:AA==");
        assert_eq!(value_text("x\ny", None), "x\\ny");
        assert_eq!(value_bytes("/w==", Some("base64")).expect("valid"), [0xff]);
    }
}
