//! `client sub`: print every change, from the server's watch stream (with
//! automatic reconnect and resume) or from NATS.

use std::io::Write;
use std::time::Duration;

use kv_core::api::WatchEvent;
use kv_pubsub::nats::{subscribe, NatsConfig};

use crate::cli::SubArgs;
use crate::client::KvClient;
use crate::cmd::Io;
use crate::error::ClientError;
use crate::exit::{Failure, EXIT_OK};
use crate::watch::{WatchItem, WatchParams};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// First wait between reconnection attempts.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// Prints every change from the server, or with `--nats` from NATS.
pub(crate) fn run(client: &KvClient, args: SubArgs, io: &mut Io<'_>) -> Result<u8, Failure> {
    let filter = SubFilter {
        key: args.key,
        prefix: args.prefix,
    };
    let json = io.printer.json;
    match args.nats {
        Some(url) => {
            let config = NatsConfig {
                url,
                subject_prefix: args.subject_prefix,
                stream: args.stream,
            };
            from_nats(&config, &filter, json, io.out)
        }
        None => from_server(client, &filter, args.from_rev, json, io.out, io.err),
    }
}

/// Which keys `sub` prints.
#[derive(Debug, Clone, Default)]
struct SubFilter {
    /// Only this key.
    key: Option<String>,
    /// Only keys with this prefix.
    prefix: Option<String>,
}

impl SubFilter {
    fn matches(&self, key: &str) -> bool {
        self.key.as_deref().is_none_or(|k| k == key)
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
    }
}

/// Streams from the server until the process is stopped. Reconnects after
/// any interruption and resumes after the last revision it printed (or was
/// told it is up to date with), so nothing is printed twice or skipped.
///
/// # Errors
///
/// [`ClientError::Gone`] when the server no longer has the revisions
/// needed to resume; any other error answer from the server.
fn from_server(
    client: &KvClient,
    filter: &SubFilter,
    from_rev: Option<u64>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let params = WatchParams {
        key: filter.key.clone(),
        prefix: filter.prefix.clone(),
        ..WatchParams::default()
    };
    let mut next = from_rev;
    // Events printed of a revision not yet finished (the server gives only
    // a revision's last event an id): skipped when the stream resumes at
    // that revision, so nothing is printed twice.
    let mut partial = Partial::default();
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut stream = match client.watch(&params, next) {
            Ok(stream) => stream,
            Err(ClientError::Unreachable { url, detail }) => {
                writeln!(
                    err,
                    "cannot reach {url} ({detail}); retrying in {backoff:?}"
                )?;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(ClientError::Gone {
                oldest_rev,
                message,
            }) => {
                let from = next.unwrap_or(0);
                writeln!(
                    err,
                    "events from revision {from} to {} are lost: {message}",
                    oldest_rev.saturating_sub(1)
                )?;
                return Err(ClientError::Gone {
                    oldest_rev,
                    message,
                }
                .into());
            }
            Err(other) => return Err(other.into()),
        };
        let mut skip = partial;
        while let Some(item) = stream.next() {
            match item {
                Ok(WatchItem::Event(event)) => {
                    backoff = MIN_BACKOFF;
                    if skip.rev == event.rev && skip.printed > 0 {
                        skip.printed -= 1;
                        continue;
                    }
                    print_event(&event, json, out)?;
                    if stream.last_id().is_some() {
                        next = Some(event.rev + 1);
                        partial = Partial::default();
                    } else {
                        next = Some(event.rev);
                        partial.printed = if partial.rev == event.rev {
                            partial.printed + 1
                        } else {
                            1
                        };
                        partial.rev = event.rev;
                    }
                }
                Ok(WatchItem::Progress(rev)) => {
                    backoff = MIN_BACKOFF;
                    next = Some(rev + 1);
                    partial = Partial::default();
                }
                Ok(WatchItem::Cut(cut)) => {
                    writeln!(
                        err,
                        "the server cut the stream off ({}); resuming",
                        cut.reason
                    )?;
                    next = Some(cut.resume_from_rev);
                    if partial.rev != cut.resume_from_rev {
                        partial = Partial::default();
                    }
                    break;
                }
                Err(e) => {
                    writeln!(err, "the stream was interrupted ({e}); resuming")?;
                    break;
                }
            }
        }
        writeln!(
            err,
            "the stream ended; reconnecting from revision {}",
            next.unwrap_or(0)
        )?;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// How many events of an unfinished revision were printed.
#[derive(Debug, Clone, Copy, Default)]
struct Partial {
    rev: u64,
    printed: usize,
}

/// Prints events from NATS until the connection closes for good.
///
/// # Errors
///
/// NATS cannot be reached.
fn from_nats(
    config: &NatsConfig,
    filter: &SubFilter,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let subscription = subscribe(config).map_err(|e| ClientError::Unreachable {
        url: config.url.clone(),
        detail: e.to_string(),
    })?;
    while let Some(event) = subscription.next() {
        if filter.matches(&event.key) {
            print_event(&event, json, out)?;
        }
    }
    Ok(EXIT_OK)
}

/// The seed's lines, or one JSON object per line; flushed at once so the
/// output can be piped.
fn print_event(event: &WatchEvent, json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        serde_json::to_writer(&mut *out, event)?;
        writeln!(out)?;
    } else {
        match event.op.as_str() {
            "set" => writeln!(
                out,
                "Set: {{key: {}, val: {}}}",
                event.key,
                event.val.as_deref().unwrap_or_default()
            )?,
            "rm" => writeln!(out, "Remove: {{key: {}}}", event.key)?,
            other => writeln!(out, "{}: {{key: {}}}", capitalized(other), event.key)?,
        }
    }
    out.flush()
}

fn capitalized(op: &str) -> String {
    let mut chars = op.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
