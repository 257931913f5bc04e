//! `client import FILE|-`: store every key of an NDJSON export, in
//! transactions, with a progress bar on a terminal.

use std::fs::File;
use std::io::BufRead;

use kv_core::api::ExportRecord;
use serde_json::json;

use crate::cli::ImportArgs;
use crate::client::KvClient;
use crate::cmd::output::{print_json, progress};
use crate::cmd::Io;
use crate::error::ClientError;
use crate::exit::{Failure, EXIT_OK};

/// Puts per transaction when importing (under the server's default
/// limit of 128 operations).
pub const IMPORT_BATCH: usize = 100;

/// Imports the file (or stdin) and says how many keys were stored.
pub(crate) fn run(client: &KvClient, args: &ImportArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let file = &args.file;
    let (stored, expired) = if file.as_os_str() == "-" {
        import(client, &mut std::io::stdin().lock())?
    } else {
        let file = File::open(file).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot open {}: {e}", file.display()))
        })?;
        import(client, &mut std::io::BufReader::new(file))?
    };
    if io.printer.json {
        print_json(io.out, &json!({"imported": stored, "expired": expired}))?;
    } else {
        writeln!(
            io.out,
            "imported {stored} keys ({expired} already expired, skipped)"
        )?;
    }
    Ok(EXIT_OK)
}

/// Reads NDJSON records from `input` and stores them in transactions of
/// [`IMPORT_BATCH`] puts; returns how many were stored and how many were
/// skipped because their expiry had passed.
///
/// # Errors
///
/// A line that is not a record (naming its number), or a server failure.
fn import(client: &KvClient, input: &mut dyn BufRead) -> Result<(u64, u64), Failure> {
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
