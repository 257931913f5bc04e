//! `client export [--prefix P]`: every key as one JSON line (NDJSON,
//! [`ExportRecord`]), with a progress bar on a terminal.

use std::io::Write;

use kv_core::api::{ExportRecord, MAX_LIST_LIMIT};

use crate::cli::ExportArgs;
use crate::client::KvClient;
use crate::cmd::output::progress;
use crate::cmd::Io;
use crate::exit::{Failure, EXIT_OK};

/// Writes the keys to stdout; the count to stderr.
pub(crate) fn run(client: &KvClient, args: &ExportArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let count = export(client, &args.prefix, io.out)?;
    writeln!(io.err, "exported {count} keys")?;
    Ok(EXIT_OK)
}

/// Writes every key under `prefix` to `out`, one JSON object per line, in
/// key order; returns how many.
///
/// # Errors
///
/// The server failed or `out` could not be written.
fn export(client: &KvClient, prefix: &str, out: &mut dyn Write) -> Result<u64, Failure> {
    let bar = progress("exported");
    let mut start_after: Option<String> = None;
    let mut count = 0;
    loop {
        let page = client.list(prefix, start_after.as_deref(), Some(MAX_LIST_LIMIT), false)?;
        for entry in page.entries {
            let record = ExportRecord {
                key: entry.key,
                value: entry.value.unwrap_or_default(),
                encoding: entry.encoding.filter(|e| e != "utf8"),
                content_type: entry.content_type,
                expires_at: entry.expires_at,
            };
            serde_json::to_writer(&mut *out, &record).map_err(std::io::Error::from)?;
            writeln!(out)?;
            count += 1;
        }
        bar.set_position(count);
        match page.next {
            Some(next) => start_after = Some(next),
            None => break,
        }
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(count)
}
