//! `client bench`: loads a server with gets, sets or a mix of both and
//! reports requests/s and latency percentiles, like `redis-benchmark` or
//! `nats bench`.
//!
//! Two engines send the requests. For `http://` servers, the event-driven
//! one (`event`): a few threads (one per CPU by default, `--threads`), each
//! running its share of the connections as tasks of a single-threaded
//! tokio runtime, speaking HTTP/1.1 itself (`wire`). For `https://`, the
//! blocking one (`blocking`): a thread per connection, each with its own
//! ureq agent built from the client's settings. Either way the workers
//! share nothing while they run but one request counter, which picks each
//! request's key and operation (`plan`), and every connection records
//! latencies in its own HDR histogram; they are merged at the end
//! ([`report`]).
//!
//! ```text
//! client bench get --connections 64 --duration 10s --keys 10000 --preload
//! client --json bench mixed --writes 10 --api v1 --requests 1000000
//! ```
//!
//! # Layout
//!
//! - this file: the options' types, and `client bench` itself: preload,
//!   measure, report.
//! - `drive`: driving a run whatever the engine, and its progress line.
//! - `plan`: which request is which, its target and body, what an answer
//!   means.
//! - `event` and `wire`: the event-driven engine and its HTTP/1.1.
//! - `blocking`: the engine on ureq.
//! - [`report`]: per-connection tallies and the final [`Report`].

mod blocking;
mod drive;
mod event;
mod plan;
pub mod report;
mod wire;

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::client::KvClient;
use crate::exit::{Failure, EXIT_OK, EXIT_SERVER_ERROR, EXIT_USAGE};
use crate::human::thousands;
use blocking::Blocking;
use drive::{drive, preload, Engine, Run};
use event::Event;
use plan::Plan;
use report::Setup;

pub use report::Report;

/// Every benchmark key starts with this: `bench:00000000`, `bench:00000001`, ...
pub const KEY_PREFIX: &str = "bench:";

/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often the main thread looks whether the workers are done.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// How often a worker looks whether the run has started.
const START_POLL: Duration = Duration::from_millis(1);

/// What a benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Only gets.
    Get,
    /// Only sets.
    Set,
    /// Sets for `--writes` percent of the requests, gets for the rest.
    Mixed,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Set => "set",
            Workload::Mixed => "mixed",
        }
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "get" => Ok(Workload::Get),
            "set" => Ok(Workload::Set),
            "mixed" => Ok(Workload::Mixed),
            _ => Err(format!("unknown workload {text:?}: get, set or mixed")),
        }
    }
}

/// Which routes a benchmark uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The original routes: `GET /get?key=` and `POST /set` (JSON).
    Basic,
    /// `GET /v1/kv/{key}` and `PUT /v1/kv/{key}` (raw bytes).
    V1,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Basic => "basic",
            Api::V1 => "v1",
        }
    }
}

impl FromStr for Api {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            // `seed`: the old name, still taken, no longer shown.
            "basic" | "seed" => Ok(Api::Basic),
            "v1" => Ok(Api::V1),
            _ => Err(format!("unknown API {text:?}: basic or v1")),
        }
    }
}

/// One request's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Get = 0,
    Set = 1,
}

/// The name of benchmark key `i`: `bench:00000042`.
pub fn key_name(i: u64) -> String {
    format!("{KEY_PREFIX}{i:08}")
}

/// The value a benchmark writes under key `i`: `size` bytes, the key's
/// number (`00000042-`) then the alphabet over and over (cut to `size`).
pub fn value_for(i: u64, size: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(size);
    value_into(&mut value, i, size);
    value
}

/// Appends [`value_for`]`(i, size)` to `out`.
fn value_into(out: &mut Vec<u8>, i: u64, size: usize) {
    const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{i:08}-");
    while out.len() - start < size {
        let room = size - (out.len() - start);
        out.extend_from_slice(&FILLER[..room.min(FILLER.len())]);
    }
    out.truncate(start + size);
}

/// What `client bench` was asked to do (the command line's `bench`
/// options, without the option parser: see `cli::BenchArgs`).
#[derive(Debug, Clone)]
pub struct Options {
    /// What to send.
    pub workload: Workload,
    /// With `mixed`: the percentage of requests that are sets.
    pub writes: u8,
    /// Which routes.
    pub api: Api,
    /// Concurrent connections.
    pub connections: usize,
    /// Threads of the event-driven engine (one per CPU when `None`).
    pub threads: Option<usize>,
    /// How long to measure, unless `requests` is given.
    pub duration: Duration,
    /// Stop after this many requests.
    pub requests: Option<u64>,
    /// The key space.
    pub keys: u64,
    /// Bytes in every value written.
    pub value_size: usize,
    /// Write every key once before measuring.
    pub preload: bool,
    /// The bearer token, for the engine's own requests.
    pub token: Option<String>,
}

/// Runs `client bench` against the server of `client` and prints the
/// report to `out` (JSON with `json`), progress to `err`. Returns the exit
/// code: [`EXIT_OK`], or [`EXIT_SERVER_ERROR`] when any request failed.
///
/// # Errors
///
/// The server is unreachable at the start; `out` or `err` cannot be
/// written; a thread cannot be started.
pub(crate) fn run(
    client: &KvClient,
    args: &Options,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    if let Some(problem) = invalid(args) {
        writeln!(err, "error: {problem}")?;
        return Ok(EXIT_USAGE);
    }
    // One plain request first, so an unreachable server is one clear line
    // (exit 3) rather than every request failing.
    client.health()?;
    let plan = Arc::new(Plan::new(
        args.api,
        args.workload,
        args.writes,
        args.keys,
        args.value_size,
    ));
    let engine = engine(client, args, &plan, err)?;

    if args.preload {
        if let Some(failure) = preload(&*engine, &plan, args.connections, err)? {
            writeln!(err, "error: the preload failed: {failure}")?;
            return Ok(EXIT_SERVER_ERROR);
        }
    }

    let measured = Arc::new(Run::new(plan, false, args.requests.unwrap_or(u64::MAX)));
    let duration = args.requests.is_none().then_some(args.duration);
    let (elapsed, tally) = drive(&*engine, &measured, args.connections, duration, err)?;
    let setup = Setup {
        workload: args.workload.name(),
        api: args.api.name(),
        engine: engine.name(),
        connections: args.connections,
        keys: args.keys,
        value_size: args.value_size,
        writes_percent: (args.workload == Workload::Mixed).then_some(args.writes),
    };
    let report = Report::new(setup, elapsed, &tally);
    if json {
        serde_json::to_writer(&mut *out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        report.write_text(out)?;
    }
    if report.missing > 0 {
        writeln!(
            err,
            "note: {} gets found no value (--preload writes every key first)",
            thousands(report.missing)
        )?;
    }
    if let Some(first) = tally.first_error() {
        writeln!(
            err,
            "error: {} of {} requests failed; the first: {first}",
            thousands(report.errors),
            thousands(report.requests)
        )?;
        return Ok(EXIT_SERVER_ERROR);
    }
    Ok(EXIT_OK)
}

/// The engine for `client`'s server: event-driven for `http://`, blocking
/// (ureq, one thread per connection) for `https://`.
fn engine(
    client: &KvClient,
    args: &Options,
    plan: &Arc<Plan>,
    err: &mut dyn Write,
) -> Result<Box<dyn Engine>, Failure> {
    let invalid_input = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let base_url = client.base_url();
    if base_url.starts_with("http://") {
        let threads = args.threads.unwrap_or_else(default_threads);
        let engine = Event::new(base_url, args.token.as_deref(), threads).map_err(invalid_input)?;
        return Ok(Box::new(engine));
    }
    writeln!(
        err,
        "bench: blocking engine (one thread per connection) for {base_url}: \
         the event-driven one speaks plain http only"
    )?;
    let config = client.agent_config().clone();
    let engine = Blocking::new(plan, base_url, config).map_err(invalid_input)?;
    Ok(Box::new(engine))
}

/// What is wrong with `args`, if anything.
fn invalid(args: &Options) -> Option<&'static str> {
    if args.connections == 0 {
        Some("--connections must be at least 1")
    } else if args.keys == 0 {
        Some("--keys must be at least 1")
    } else if args.writes > 100 {
        Some("--writes is a percentage, at most 100")
    } else if args.requests == Some(0) {
        Some("--requests must be at least 1")
    } else if args.threads == Some(0) {
        Some("--threads must be at least 1")
    } else {
        None
    }
}

/// The event-driven engine's threads unless `--threads` says otherwise:
/// one per CPU.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_key_number_and_the_requested_size() {
        assert_eq!(value_for(42, 20), b"00000042-abcdefghijk");
        assert_eq!(value_for(7, 4), b"0000");
        assert_eq!(value_for(7, 0), b"");
        assert_eq!(value_for(1, 100).len(), 100);
        assert_eq!(key_name(3), "bench:00000003");
    }
}
