//! How results are printed: the server's JSON, or text; a value's exact
//! bytes.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    /// The server's JSON answer instead of plain text.
    pub(crate) json: bool,
    /// Whether stdout is a terminal.
    pub(crate) out_is_terminal: bool,
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json(out: &mut dyn Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// Writes a value's exact bytes; on a terminal, a text value gets a
/// newline after it (a pipe gets only the value).
pub(crate) fn write_value(
    out: &mut dyn Write,
    value: &[u8],
    out_is_terminal: bool,
) -> std::io::Result<()> {
    out.write_all(value)?;
    if out_is_terminal && std::str::from_utf8(value).is_ok() && !value.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Reports a missing key on `err`; the exit code: found or not.
pub(crate) fn found_or_not(found: bool, key: &str, err: &mut dyn Write) -> std::io::Result<u8> {
    if found {
        return Ok(crate::exit::EXIT_OK);
    }
    writeln!(err, "key not found: {key}")?;
    Ok(crate::exit::EXIT_NOT_FOUND)
}

/// A spinner counting keys `what` (drawn on stderr only when it is a
/// terminal).
pub(crate) fn progress(what: &'static str) -> ProgressBar {
    // Draws on stderr only when it is a terminal.
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} keys {msg} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what);
    bar
}
