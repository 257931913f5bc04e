//! `client get KEY [--meta | --rev] [--consistent]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kv_core::api::KvEntry;

use crate::cli::GetArgs;
use crate::client::KvClient;
use crate::cmd::output::{
    found_or_not, print_json, value_bytes, value_text, OutputFormat, Printer,
};
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Prints the value (the original route), or with `--meta` the entry and
/// with `--rev` its revision (the /v1 API).
pub(crate) fn run(client: &KvClient, args: &GetArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let consistent;
    let client = match args.consistent {
        true => {
            consistent = client.clone().consistent();
            &consistent
        }
        false => client,
    };
    if args.meta || args.rev {
        let Some(entry) = client.entry(&args.key)? else {
            return Ok(found_or_not(false, &args.key, io.err)?);
        };
        match (args.rev, io.printer.is_json()) {
            (true, true) => print_json(
                io.out,
                &serde_json::json!({"key": entry.key, "mod_rev": entry.mod_rev}),
            )?,
            (true, false) => writeln!(io.out, "{}", entry.mod_rev)?,
            (false, true) => print_json(io.out, &entry)?,
            (false, false) => write_fields(io.out, &entry, now_ms())?,
        }
        return Ok(EXIT_OK);
    }
    let answer = client.get(&args.key)?;
    match (&answer.inserted_val, io.printer.format) {
        (_, OutputFormat::Json) => print_json(io.out, &answer)?,
        (Some(val), OutputFormat::Text) => {
            writeln!(io.out, "{}", value_text(val, answer.encoding.as_deref()))?;
        }
        (Some(val), OutputFormat::Raw) => {
            let bytes = value_bytes(val, answer.encoding.as_deref())?;
            write_raw(io.out, &bytes, io.printer)?;
        }
        (None, _) => {}
    }
    Ok(found_or_not(answer.found, &args.key, io.err)?)
}

/// Writes a value's exact bytes; on a terminal, a text value gets a
/// newline after it (a pipe gets only the value).
fn write_raw(out: &mut dyn std::io::Write, value: &[u8], printer: Printer) -> std::io::Result<()> {
    out.write_all(value)?;
    if printer.out_is_terminal && std::str::from_utf8(value).is_ok() && !value.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The entry as `field: value` lines; the expiry also as a date and the
/// time left.
fn write_fields(out: &mut dyn std::io::Write, entry: &KvEntry, now: u64) -> std::io::Result<()> {
    writeln!(out, "key: {}", crate::cmd::output::escape(&entry.key))?;
    let encoding = Some(entry.encoding.as_str()).filter(|e| *e != "utf8");
    writeln!(out, "value: {}", value_text(&entry.value, encoding))?;
    if let Some(content_type) = &entry.content_type {
        writeln!(out, "content_type: {content_type}")?;
    }
    writeln!(out, "create_rev: {}", entry.create_rev)?;
    writeln!(out, "mod_rev: {}", entry.mod_rev)?;
    writeln!(out, "version: {}", entry.version)?;
    if let Some(at) = entry.expires_at {
        writeln!(out, "expires_at: {at} ({})", expiry(at, now))?;
    }
    writeln!(out, "rev: {}", entry.rev)
}

/// `2026-12-07T21:30:00Z, in 1h 29m 59s`.
fn expiry(at_ms: u64, now_ms: u64) -> String {
    let date = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(at_ms));
    match at_ms.checked_sub(now_ms) {
        Some(left) if left > 0 => {
            // Whole seconds, rounded up: `in 0s` would read as expired.
            let left = Duration::from_secs(left.div_ceil(1000));
            format!("{date}, in {}", humantime::format_duration(left))
        }
        _ => format!("{date}, expired"),
    }
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_shows_the_time_left() {
        let at = 1_796_680_000_000;
        assert_eq!(
            expiry(at, at - 5_399_500),
            "2026-12-07T21:46:40Z, in 1h 30m"
        );
        assert_eq!(expiry(at, at), "2026-12-07T21:46:40Z, expired");
    }
}
