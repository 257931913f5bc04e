//! `client export` and `client import`: every key as one JSON line
//! (NDJSON, [`ExportRecord`]), with a progress bar on a terminal.

use std::io::{BufRead, Write};

use indicatif::{ProgressBar, ProgressStyle};
use kv_core::api::{ExportRecord, MAX_LIST_LIMIT};
use serde_json::json;

use crate::client::KvClient;
use crate::commands::Failure;
use crate::error::ClientError;

/// Puts per transaction when importing (under the server's default
/// limit of 128 operations).
pub const IMPORT_BATCH: usize = 100;

fn progress(what: &'static str) -> ProgressBar {
    // Draws on stderr only when it is a terminal.
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} keys {msg} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what);
    bar
}

/// Writes every key under `prefix` to `out`, one JSON object per line, in
/// key order; returns how many.
///
/// # Errors
///
/// The server failed or `out` could not be written.
pub(crate) fn export(client: &KvClient, prefix: &str, out: &mut dyn Write) -> Result<u64, Failure> {
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

/// Reads NDJSON records from `input` and stores them in transactions of
/// [`IMPORT_BATCH`] puts; returns how many were stored and how many were
/// skipped because their expiry had passed.
///
/// # Errors
///
/// A line that is not a record (naming its number), or a server failure.
pub(crate) fn import(client: &KvClient, input: &mut dyn BufRead) -> Result<(u64, u64), Failure> {
    let bar = progress("imported");
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let (mut stored, mut expired) = (0, 0);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = input.read_line(&mut line)?;
        if read > 0 {
            number += 1;
            if line.trim().is_empty() {
                continue;
            }
            let record: ExportRecord = serde_json::from_str(&line).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("line {number}: {e}"),
                )
            })?;
            let mut put = json!({"key": record.key, "value": record.value});
            if let Some(encoding) = record.encoding {
                put["encoding"] = json!(encoding);
            }
            if let Some(content_type) = record.content_type {
                put["content_type"] = json!(content_type);
            }
            if let Some(at) = record.expires_at {
                if at <= now_ms() {
                    expired += 1;
                    continue;
                }
                put["expires_at"] = json!(at);
            }
            batch.push(json!({ "put": put }));
        }
        if batch.len() == IMPORT_BATCH || (read == 0 && !batch.is_empty()) {
            let size = batch.len() as u64;
            let answer = client.txn(&json!({ "success": std::mem::take(&mut batch) }))?;
            if !answer.succeeded {
                return Err(ClientError::Protocol {
                    url: client.base_url().to_owned(),
                    detail: "an import transaction without comparisons did not succeed".into(),
                }
                .into());
            }
            stored += size;
            bar.set_position(stored);
        }
        if read == 0 {
            break;
        }
    }
    bar.finish_and_clear();
    Ok((stored, expired))
}

/// Milliseconds since the Unix epoch, now: which records have expired.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
