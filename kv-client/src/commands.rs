//! Runs a parsed command line against the server and prints the result:
//! results on stdout, diagnostics on stderr, and an exit code that says what
//! happened.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{Cli, CliCommand};
use crate::client::{ClientOptions, KvClient};
use crate::error::ClientError;
use crate::subscribe::{self, SubFilter};
use crate::transfer;
use kv_core::api::MAX_LIST_LIMIT;
use kv_core::command::Condition;
use kv_core::value_text::from_text;
use kv_pubsub::nats::NatsConfig;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the key does not exist (`get`, `rm`).
pub const EXIT_NOT_FOUND: u8 = 1;
/// Exit code: invalid command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the server answered with an error.
pub const EXIT_SERVER_ERROR: u8 = 4;
/// Exit code: a local file or the output could not be written.
pub const EXIT_LOCAL_ERROR: u8 = 5;
/// Exit code: a conditional write's condition did not hold.
pub const EXIT_CONDITION_FAILED: u8 = 7;
/// Exit code: the server refused the token (401: missing or wrong; 403: no
/// right on those keys).
pub const EXIT_UNAUTHORIZED: u8 = 8;
/// Exit code: `sub` cannot resume because the server no longer has the
/// revisions it needs (events would be lost).
pub const EXIT_EVENTS_LOST: u8 = 6;

/// Runs `cli`, printing to `out` and `err`, and returns the exit code.
/// `out_is_terminal` says whether `out` is a terminal: `get` then ends a
/// text value with a newline (to a pipe it writes the value's exact bytes).
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write, out_is_terminal: bool) -> ExitCode {
    let options = ClientOptions {
        token: cli.token,
        ca_cert: cli.cacert,
    };
    let client = match KvClient::with_options(&cli.host, &options) {
        Ok(client) => client,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return ExitCode::from(EXIT_LOCAL_ERROR);
        }
    };
    let printer = Printer {
        json: cli.json,
        out_is_terminal,
    };
    match execute(&client, cli.command, printer, out, err) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(match e {
                Failure::Client(ClientError::Unreachable { .. }) => EXIT_UNREACHABLE,
                Failure::Client(ClientError::Gone { .. }) => EXIT_EVENTS_LOST,
                Failure::Client(ClientError::ConditionFailed { .. }) => EXIT_CONDITION_FAILED,
                Failure::Client(ClientError::Server {
                    status: 401 | 403, ..
                }) => EXIT_UNAUTHORIZED,
                Failure::Client(_) => EXIT_SERVER_ERROR,
                Failure::Output(_) => EXIT_LOCAL_ERROR,
            })
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

/// How results are printed.
#[derive(Debug, Clone, Copy)]
struct Printer {
    /// The server's JSON answer instead of plain text.
    json: bool,
    /// `out` is a terminal.
    out_is_terminal: bool,
}

fn execute(
    client: &KvClient,
    command: CliCommand,
    printer: Printer,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let json = printer.json;
    match command {
        CliCommand::Get { key, meta, rev } if meta || rev => {
            let Some(entry) = client.entry(&key)? else {
                return Ok(found_or_not(false, &key, err)?);
            };
            if rev {
                writeln!(out, "{}", entry.mod_rev)?;
            } else {
                print_json(out, &entry)?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Put {
            key,
            value,
            if_rev,
            create,
            content_type,
            ttl,
        } => {
            let value = match value.as_deref() {
                None | Some("-") => {
                    let mut bytes = Vec::new();
                    std::io::stdin().read_to_end(&mut bytes)?;
                    bytes
                }
                Some(text) => text.as_bytes().to_vec(),
            };
            let condition = match (if_rev, create) {
                (Some(rev), _) => Condition::ModRev(rev),
                (None, true) => Condition::Absent,
                (None, false) => Condition::Always,
            };
            let answer = client.put(
                &key,
                &value,
                content_type.as_deref(),
                ttl.as_deref(),
                condition,
            )?;
            if json {
                print_json(out, &answer)?;
            } else {
                writeln!(out, "OK (revision {})", answer.rev)?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Del {
            prefix: Some(prefix),
            all,
            ..
        } => {
            let answer = client.delete_prefix(&prefix, all)?;
            if json {
                print_json(out, &answer)?;
            } else {
                writeln!(
                    out,
                    "deleted {} keys (revision {})",
                    answer.deleted, answer.rev
                )?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Del { key, if_rev, .. } => {
            let key = key.unwrap_or_default();
            let condition = if_rev.map_or(Condition::Always, Condition::ModRev);
            let Some(answer) = client.delete(&key, condition)? else {
                return Ok(found_or_not(false, &key, err)?);
            };
            if json {
                print_json(out, &answer)?;
            } else {
                writeln!(out, "OK (revision {})", answer.rev)?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::List {
            prefix,
            keys_only,
            limit,
        } => {
            let mut printed = 0;
            let mut start_after: Option<String> = None;
            while limit != Some(0) {
                let page_limit = limit.map(|l| (l - printed).clamp(1, MAX_LIST_LIMIT));
                let page = client.list(&prefix, start_after.as_deref(), page_limit, keys_only)?;
                for entry in &page.entries {
                    if json {
                        print_json(out, entry)?;
                    } else if keys_only {
                        writeln!(out, "{}", entry.key)?;
                    } else {
                        let value = entry.value.as_deref().unwrap_or_default();
                        writeln!(out, "{}\t{value}", entry.key)?;
                    }
                    printed += 1;
                }
                match page.next {
                    Some(next) if limit.is_none_or(|l| printed < l) => start_after = Some(next),
                    _ => break,
                }
            }
            Ok(EXIT_OK)
        }
        CliCommand::Txn { file } => {
            let text = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            } else {
                fs::read_to_string(&file)?
            };
            let txn: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not JSON: {e}", file.display()),
                )
            })?;
            let answer = client.txn(&txn)?;
            print_json(out, &answer)?;
            Ok(if answer.succeeded {
                EXIT_OK
            } else {
                EXIT_CONDITION_FAILED
            })
        }
        CliCommand::Get { key, .. } => {
            let answer = client.get(&key)?;
            match (&answer.inserted_val, json) {
                (_, true) => print_json(out, &answer)?,
                (Some(val), false) => {
                    let bytes = from_text(val, answer.encoding.as_deref()).map_err(|e| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("the server sent a value this client cannot read: {e}"),
                        )
                    })?;
                    write_value(out, &bytes, printer.out_is_terminal)?;
                }
                (None, false) => {}
            }
            Ok(found_or_not(answer.found, &key, err)?)
        }
        CliCommand::Set { key, val } => {
            let answer = client.set(&key, &val)?;
            if json {
                print_json(out, &answer)?;
            } else {
                writeln!(out, "OK")?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Rm { key } => {
            let answer = client.rm(&key)?;
            if json {
                print_json(out, &answer)?;
            } else if answer.found {
                writeln!(out, "OK")?;
            }
            Ok(found_or_not(answer.found, &key, err)?)
        }
        CliCommand::Sub {
            prefix,
            key,
            from_rev,
            nats,
            subject_prefix,
            stream,
        } => {
            let filter = SubFilter { key, prefix };
            match nats {
                Some(url) => {
                    let config = NatsConfig {
                        url,
                        subject_prefix,
                        stream,
                    };
                    subscribe::from_nats(&config, &filter, json, out)
                }
                None => subscribe::from_server(client, &filter, from_rev, json, out, err),
            }
        }
        CliCommand::Export { prefix } => {
            let count = transfer::export(client, &prefix, out)?;
            writeln!(err, "exported {count} keys")?;
            Ok(EXIT_OK)
        }
        CliCommand::Import { file } => {
            let (stored, expired) = if file.as_os_str() == "-" {
                transfer::import(client, &mut std::io::stdin().lock())?
            } else {
                let file = File::open(&file).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot open {}: {e}", file.display()))
                })?;
                transfer::import(client, &mut std::io::BufReader::new(file))?
            };
            if json {
                print_json(
                    out,
                    &serde_json::json!({"imported": stored, "expired": expired}),
                )?;
            } else {
                writeln!(
                    out,
                    "imported {stored} keys ({expired} already expired, skipped)"
                )?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Completions { shell } => {
            crate::cli::completions(&shell, out)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Ok(EXIT_OK)
        }
        CliCommand::Backup { file } => {
            let (rev, bytes) = backup_to_file(client, &file)?;
            if json {
                print_json(
                    out,
                    &serde_json::json!({"file": file, "rev": rev, "bytes": bytes}),
                )?;
            } else {
                writeln!(
                    out,
                    "wrote {bytes} bytes (revision {rev}) to {}",
                    file.display()
                )?;
            }
            Ok(EXIT_OK)
        }
        CliCommand::Bench(args) => crate::bench::run(client, &args, json, out, err),
    }
}

/// Downloads a backup into `file` through `file.partial`, synced, so a
/// failed download never leaves a file that looks whole.
fn backup_to_file(client: &KvClient, file: &Path) -> Result<(u64, u64), Failure> {
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let mut out = File::create(&partial)?;
    let result = client.backup(&mut out);
    let finished = result.map_err(Failure::from).and_then(|answer| {
        out.sync_all()?;
        fs::rename(&partial, file)?;
        Ok(answer)
    });
    if finished.is_err() {
        let _ = fs::remove_file(&partial);
    }
    finished
}

/// Writes a value's exact bytes; on a terminal, a text value gets a
/// newline after it (a pipe gets only the value).
fn write_value(out: &mut dyn Write, value: &[u8], out_is_terminal: bool) -> std::io::Result<()> {
    out.write_all(value)?;
    if out_is_terminal && std::str::from_utf8(value).is_ok() && !value.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn found_or_not(found: bool, key: &str, err: &mut dyn Write) -> std::io::Result<u8> {
    if found {
        return Ok(EXIT_OK);
    }
    writeln!(err, "key not found: {key}")?;
    Ok(EXIT_NOT_FOUND)
}

fn print_json(out: &mut dyn Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}
