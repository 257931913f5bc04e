//! `client sub`: print every change, from the server's watch stream (with
//! automatic reconnect and resume) or from NATS.

use std::io::Write;
use std::time::Duration;

use kv_core::api::WatchEvent;
use kv_pubsub::nats::{subscribe, NatsConfig};

use crate::cli::SubArgs;
use crate::client::KvClient;
use crate::cmd::output::{escape, value_bytes, value_text, OutputFormat};
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
    let format = io.printer.format;
    match args.nats {
        Some(url) => {
            let config = NatsConfig {
                url,
                subject_prefix: args.subject_prefix,
                stream: args.stream,
            };
            from_nats(&config, &filter, format, io.out)
        }
        None => from_server(client, &filter, args.from_rev, format, io.out, io.err),
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
    format: OutputFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let params = WatchParams {
        key: filter.key.clone(),
        prefix: filter.prefix.clone(),
        ..WatchParams::default()
    };
    let mut position = Position {
        next: from_rev,
        partial: Partial::default(),
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        let stream = match client.watch(&params, position.next) {
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
                let from = position.next.unwrap_or(0);
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
        if position.follow(stream, format, out, err)? {
            backoff = MIN_BACKOFF;
        }
        writeln!(
            err,
            "the stream ended; reconnecting from revision {}",
            position.next.unwrap_or(0)
        )?;
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Where `sub` is in the feed: the revision to resume from, and what it
/// printed of an unfinished revision (the server gives only a revision's
/// last event an id), skipped when the stream resumes at that revision so
/// that nothing is printed twice.
struct Position {
    next: Option<u64>,
    partial: Partial,
}

impl Position {
    /// Prints `stream`'s events until it ends; whether anything came.
    fn follow(
        &mut self,
        mut stream: crate::watch::WatchStream,
        format: OutputFormat,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<bool, Failure> {
        let mut skip = self.partial;
        let mut any = false;
        while let Some(item) = stream.next() {
            match item {
                Ok(WatchItem::Event(event)) => {
                    any = true;
                    if skip.rev == event.rev && skip.printed > 0 {
                        skip.printed -= 1;
                        continue;
                    }
                    print_event(&event, format, out)?;
                    self.printed(event.rev, stream.last_id().is_some());
                }
                Ok(WatchItem::Progress(rev)) => {
                    any = true;
                    self.next = Some(rev + 1);
                    self.partial = Partial::default();
                }
                Ok(WatchItem::Cut(cut)) => {
                    writeln!(
                        err,
                        "the server cut the stream off ({}); resuming",
                        cut.reason
                    )?;
                    self.next = Some(cut.resume_from_rev);
                    if self.partial.rev != cut.resume_from_rev {
                        self.partial = Partial::default();
                    }
                    break;
                }
                Err(e) => {
                    writeln!(err, "the stream was interrupted ({e}); resuming")?;
                    break;
                }
            }
        }
        Ok(any)
    }

    /// An event of revision `rev` was printed; `closes_rev` when it was
    /// the revision's last.
    fn printed(&mut self, rev: u64, closes_rev: bool) {
        if closes_rev {
            self.next = Some(rev + 1);
            self.partial = Partial::default();
            return;
        }
        self.next = Some(rev);
        self.partial.printed = if self.partial.rev == rev {
            self.partial.printed + 1
        } else {
            1
        };
        self.partial.rev = rev;
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
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let subscription = subscribe(config).map_err(|e| ClientError::Unreachable {
        url: config.url.clone(),
        detail: e.to_string(),
    })?;
    while let Some(event) = subscription.next() {
        if filter.matches(&event.key) {
            print_event(&event, format, out)?;
        }
    }
    Ok(EXIT_OK)
}

/// The original lines (`Set: {key: K, val: V}`, `Remove: {key: K}`), with
/// the key and value escaped in text and as they are in raw; or one JSON
/// object per line. Flushed at once so the output can be piped.
fn print_event(
    event: &WatchEvent,
    format: OutputFormat,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if format == OutputFormat::Json {
        serde_json::to_writer(&mut *out, event)?;
        writeln!(out)?;
        return out.flush();
    }
    let op = match event.op.as_str() {
        "set" => "Set".to_owned(),
        "rm" => "Remove".to_owned(),
        other => capitalized(other),
    };
    let key = match format {
        OutputFormat::Raw => event.key.as_str().into(),
        _ => escape(&event.key),
    };
    match (&event.val, event.op.as_str()) {
        (Some(val), "set") => {
            let encoding = event.encoding.as_deref();
            write!(out, "{op}: {{key: {key}, val: ")?;
            match format {
                OutputFormat::Raw => out.write_all(&value_bytes(val, encoding)?)?,
                _ => write!(out, "{}", value_text(val, encoding))?,
            }
            writeln!(out, "}}")?;
        }
        _ => writeln!(out, "{op}: {{key: {key}}}")?,
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
