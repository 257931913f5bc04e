//! The command-line options of `client`.
//!
//! This is the only file of the client that uses `structopt`, so replacing it
//! (it is in maintenance upstream) touches this file alone.

use std::time::Duration;

use kv_core::address::{ServerAddr, DEFAULT_SERVER_HOST};
use structopt::clap::ErrorKind;
use structopt::StructOpt;

use crate::exit::EXIT_CODES_HELP;

/// How results are printed (`-o`), the same way by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// For people and line tools: one line per result; a value's newlines
    /// and control characters escaped (`\n`, `\x1b`), a value that is not
    /// UTF-8 written as `base64:` and its base64.
    Text,
    /// JSON: the server's answer, or one object per line (NDJSON) for
    /// `list`, `sub` and `export`.
    Json,
    /// Values' exact bytes, nothing escaped.
    Raw,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            "raw" => Ok(Self::Raw),
            other => Err(format!(
                "{other:?} is not an output format: text, json or raw"
            )),
        }
    }
}

/// Parses a duration: Go style (`1h30m`, `1500ms`, `2m30s`, `1d`) or a bare
/// number of seconds; more than zero.
///
/// # Errors
///
/// Not a duration, negative or zero, as a message.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "{text:?} is negative: a duration is more than zero"
        ));
    }
    let duration = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(
            trimmed
                .parse()
                .map_err(|_| format!("{text:?} is too long"))?,
        )
    } else {
        humantime::parse_duration(trimmed).map_err(|e| {
            format!("{text:?} is not a duration such as 30s, 1500ms, 1h30m or 2d ({e})")
        })?
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero: a duration is more than zero"));
    }
    Ok(duration)
}

/// kv-store client: read and write keys on a kv-store server.
#[derive(Debug, StructOpt)]
#[structopt(
    name = "client",
    about = "kv-store client: read and write keys on a kv-store server.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Server address: `HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT`.
    #[structopt(long, global = true, env = "KVSTORE_SERVER_HOST", default_value = DEFAULT_SERVER_HOST)]
    pub host: ServerAddr,

    /// Bearer token sent with every request (when the server requires one).
    #[structopt(
        long,
        global = true,
        env = "KVSTORE_AUTH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// PEM file of CA certificates to trust for https, instead of the
    /// public web roots (a private CA or a self-signed certificate).
    #[structopt(long, global = true, env = "KVSTORE_CACERT", parse(from_os_str))]
    pub cacert: Option<std::path::PathBuf>,

    /// How to print results: `text` (the default but for `export`: one
    /// line per result, values escaped), `json` (the server's answer;
    /// NDJSON for list, sub and export) or `raw` (values' exact bytes).
    #[structopt(short = "o", long = "output", global = true, possible_values = &["text", "json", "raw"])]
    pub output: Option<OutputFormat>,

    /// The same as `-o json`.
    #[structopt(long, global = true, conflicts_with = "output")]
    pub json: bool,

    /// What to do.
    #[structopt(subcommand)]
    pub command: CliCommand,
}

// The subcommands. Not a doc comment: structopt would show it in place of
// the program's description.
#[allow(missing_docs)]
#[derive(Debug, StructOpt)]
pub enum CliCommand {
    /// Print the value of KEY (exit 1 if it does not exist).
    Get(GetArgs),
    /// Store VALUE under KEY through the /v1 API: any bytes, read from stdin
    /// when VALUE is `-` or missing.
    Put(PutArgs),
    /// Delete KEY through the /v1 API (exit 1 if it does not exist), or
    /// every key under --prefix.
    Del(DelArgs),
    /// List keys in order (following the server's pages to the end): one
    /// `KEY<TAB>VALUE` per line, or keys alone with --keys-only.
    List(ListArgs),
    /// Run a transaction given as JSON in FILE (`-` for stdin); exit 0 when
    /// its comparisons held, 7 when the failure branch ran.
    Txn(TxnArgs),
    /// Store VAL under KEY.
    Set(SetArgs),
    /// Remove KEY (exit 1 if it did not exist).
    Rm(RmArgs),
    /// Print every change as it happens: `Set: {key: K, val: V}` and
    /// `Remove: {key: K}` (one JSON event per line with -o json). Streams
    /// from the server, reconnecting and resuming by itself; --nats reads
    /// NATS instead. Also `watch`.
    #[structopt(visible_alias = "watch")]
    Sub(SubArgs),
    /// Write every key (under --prefix), at one revision, to stdout as
    /// NDJSON, one `{"key", "value", ...}` object per line, in key order.
    Export(ExportArgs),
    /// Store every key of an NDJSON export (FILE, or `-` for stdin). Each
    /// chunk of up to 1024 consecutive records is stored atomically; a bad
    /// line stops the import, with every record before it stored.
    Import(ImportArgs),
    /// Print a shell completion script: bash, zsh, fish, powershell or
    /// elvish (for example `client completions bash > /etc/bash_completion.d/client`).
    Completions(CompletionsArgs),
    /// Save a consistent backup of the whole store to FILE (restore it with
    /// `server restore --from FILE --data-dir DIR`).
    Backup(BackupArgs),
    /// Load the server from many connections and print requests/s and
    /// latency percentiles (p50, p90, p99, p99.9, max), like
    /// redis-benchmark. Keys are `bench:00000000` and up. A progress line
    /// goes to stderr every second. Exit 0 when every request succeeded, 4
    /// when any failed (the report counts them by kind), 3 when the server
    /// cannot be reached at the start.
    Bench(BenchArgs),
}

/// The options of `client get`.
#[derive(Debug, StructOpt)]
pub struct GetArgs {
    /// The key.
    pub key: String,
    /// Print the entry with its metadata (JSON), from the /v1 API.
    #[structopt(long)]
    pub meta: bool,
    /// Print only the revision of the key's last write.
    #[structopt(long, conflicts_with = "meta")]
    pub rev: bool,
    /// Against a replicated cluster: read only once the server has applied
    /// every write committed before the read (linearizable; a single node's
    /// reads always are).
    #[structopt(long)]
    pub consistent: bool,
}

/// The options of `client put`.
#[derive(Debug, StructOpt)]
pub struct PutArgs {
    /// The key.
    pub key: String,
    /// The value; `-` or nothing reads stdin.
    pub value: Option<String>,
    /// Only if the key's last write was at this revision (compare-and-set).
    #[structopt(long)]
    pub if_rev: Option<u64>,
    /// Only if the key does not exist yet.
    #[structopt(long, conflicts_with = "if-rev")]
    pub create: bool,
    /// The value's media type, returned by GET.
    #[structopt(long)]
    pub content_type: Option<String>,
    /// Time to live: 30s, 1500ms, 1h30m, 2d, or seconds.
    #[structopt(long, allow_hyphen_values = true, parse(try_from_str = parse_duration))]
    pub ttl: Option<Duration>,
}

/// The options of `client del`.
#[derive(Debug, StructOpt)]
pub struct DelArgs {
    /// The key (omit with --prefix).
    #[structopt(required_unless = "prefix", conflicts_with = "prefix")]
    pub key: Option<String>,
    /// Only if the key's last write was at this revision.
    #[structopt(long, conflicts_with = "prefix")]
    pub if_rev: Option<u64>,
    /// Delete every key starting with this (all keys with --all).
    #[structopt(long)]
    pub prefix: Option<String>,
    /// With an empty --prefix: really delete every key.
    #[structopt(long)]
    pub all: bool,
}

/// The options of `client list`.
#[derive(Debug, StructOpt)]
pub struct ListArgs {
    /// Only keys starting with this.
    #[structopt(long, default_value = "")]
    pub prefix: String,
    /// Print keys only.
    #[structopt(long)]
    pub keys_only: bool,
    /// Stop after this many keys.
    #[structopt(long)]
    pub limit: Option<usize>,
}

/// The options of `client txn`.
#[derive(Debug, StructOpt)]
pub struct TxnArgs {
    /// The JSON file, or `-`.
    #[structopt(parse(from_os_str))]
    pub file: std::path::PathBuf,
}

/// The options of `client set`.
#[derive(Debug, StructOpt)]
pub struct SetArgs {
    /// The key.
    pub key: String,
    /// The value.
    pub val: String,
}

/// The options of `client rm`.
#[derive(Debug, StructOpt)]
pub struct RmArgs {
    /// The key.
    pub key: String,
}

/// The options of `client sub`.
#[derive(Debug, StructOpt)]
pub struct SubArgs {
    /// Only keys with this prefix.
    #[structopt(long)]
    pub prefix: Option<String>,
    /// Only this key.
    #[structopt(long)]
    pub key: Option<String>,
    /// Start at this revision (inclusive) instead of now.
    #[structopt(long)]
    pub from_rev: Option<u64>,
    /// Read the NATS subjects at this URL instead of the server.
    #[structopt(long, env = "KVSTORE_NATS_HOST")]
    pub nats: Option<String>,
    /// Prefix of the NATS subjects.
    #[structopt(long, default_value = "")]
    pub subject_prefix: String,
    /// With --nats: replay this JetStream stream from its start, then
    /// follow it.
    #[structopt(long)]
    pub stream: Option<String>,
}

/// The options of `client export`.
#[derive(Debug, StructOpt)]
pub struct ExportArgs {
    /// Only keys starting with this.
    #[structopt(long, default_value = "")]
    pub prefix: String,
}

impl ExportArgs {
    /// `list` of the same keys, which is what `export` prints as text.
    pub fn as_list(&self) -> ListArgs {
        ListArgs {
            prefix: self.prefix.clone(),
            keys_only: false,
            limit: None,
        }
    }
}

/// The options of `client import`.
#[derive(Debug, StructOpt)]
pub struct ImportArgs {
    /// The export file, or `-`.
    #[structopt(parse(from_os_str))]
    pub file: std::path::PathBuf,
}

/// The options of `client completions`.
#[derive(Debug, StructOpt)]
pub struct CompletionsArgs {
    /// The shell.
    #[structopt(possible_values = &["bash", "zsh", "fish", "powershell", "elvish"])]
    pub shell: String,
}

/// The options of `client backup`.
#[derive(Debug, StructOpt)]
pub struct BackupArgs {
    /// Where to write it; written to FILE.partial first, then renamed.
    #[structopt(parse(from_os_str))]
    pub file: std::path::PathBuf,
}

/// The options of `client bench`.
#[derive(Debug, Clone, StructOpt)]
pub struct BenchArgs {
    /// What to send: `get`, `set`, or `mixed` (--writes percent sets, the
    /// rest gets).
    #[structopt(possible_values = &["get", "set", "mixed"])]
    pub workload: crate::bench::Workload,
    /// With `mixed`: the percentage of requests that are sets.
    #[structopt(long, default_value = "10")]
    pub writes: u8,
    /// The routes: `basic`, the original ones (GET /get?key=, POST /set),
    /// or `v1` (GET and PUT /v1/kv/KEY).
    #[structopt(long, default_value = "basic")]
    pub api: crate::bench::Api,
    /// Concurrent connections, each keeping its connection alive.
    #[structopt(long, default_value = "32")]
    pub connections: usize,
    /// Threads that run the connections, for http servers (the
    /// event-driven engine); one per CPU by default. With https, every
    /// connection has a thread of its own.
    #[structopt(long)]
    pub threads: Option<usize>,
    /// How long to measure (10s, 1500ms, 2m); the default unless
    /// --requests is given.
    #[structopt(long, default_value = "10s", parse(try_from_str = parse_duration))]
    pub duration: std::time::Duration,
    /// Stop after this many requests instead of after --duration.
    #[structopt(long)]
    pub requests: Option<u64>,
    /// The key space: keys `bench:00000000` to `bench:{KEYS-1}`, taken in
    /// a scattered order that visits every key once per KEYS requests.
    #[structopt(long, default_value = "10000")]
    pub keys: u64,
    /// Bytes in every value written: the key's number, then filler.
    #[structopt(long, default_value = "100")]
    pub value_size: usize,
    /// Write every key once before measuring.
    #[structopt(long)]
    pub preload: bool,
    /// The global `--token`, which [`parse_from`] copies here: the
    /// event-driven engine writes its own `Authorization` header.
    #[structopt(skip)]
    pub token: Option<String>,
}

impl Cli {
    /// The output format asked for (`-o`, or `--json`), if any.
    pub fn output_format(&self) -> Option<OutputFormat> {
        if self.json {
            Some(OutputFormat::Json)
        } else {
            self.output
        }
    }
}

impl BenchArgs {
    /// The options `client bench` runs with.
    pub fn options(self) -> crate::bench::Options {
        let args = self;
        crate::bench::Options {
            workload: args.workload,
            writes: args.writes,
            api: args.api,
            connections: args.connections,
            threads: args.threads,
            duration: args.duration,
            requests: args.requests,
            keys: args.keys,
            value_size: args.value_size,
            preload: args.preload,
            token: args.token,
        }
    }
}

/// Writes the completion script for `shell` (one of the names
/// [`CliCommand::Completions`] accepts) to `out`.
pub fn completions(shell: &str, mut out: &mut dyn std::io::Write) -> Result<(), String> {
    let shell: structopt::clap::Shell = shell.parse()?;
    Cli::clap().gen_completions_to("client", shell, &mut out);
    Ok(())
}

/// What parsing the command line produced.
#[derive(Debug)]
pub enum Parsed {
    /// A command to run.
    Run(Box<Cli>),
    /// Help or version text, to print on stdout and exit 0.
    Info(String),
    /// A usage error, to print on stderr and exit 2.
    Usage(String),
}

/// Parses the process's arguments and environment.
pub fn parse() -> Parsed {
    parse_from(std::env::args_os())
}

/// Parses `args` (the first is the program name) and the environment.
pub fn parse_from<I>(args: I) -> Parsed
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString> + Clone,
{
    match Cli::from_iter_safe(args) {
        Ok(mut cli) => {
            if let CliCommand::Bench(bench) = &mut cli.command {
                bench.token.clone_from(&cli.token);
            }
            Parsed::Run(Box::new(cli))
        }
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::HelpDisplayed | ErrorKind::VersionDisplayed
            ) =>
        {
            Parsed::Info(e.message)
        }
        Err(e) => Parsed::Usage(e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_go_style() {
        let secs = Duration::from_secs;
        assert_eq!(parse_duration("10s"), Ok(secs(10)));
        assert_eq!(parse_duration("30"), Ok(secs(30)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(secs(172_800)));
        for bad in ["soon", "0s", "-5s", "", "1x"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
    }

    #[test]
    fn json_is_a_synonym_of_output_json() {
        let parsed = |args: &[&str]| match parse_from(["client"].iter().chain(args)) {
            Parsed::Run(cli) => cli.output_format(),
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(parsed(&["--json", "get", "k"]), Some(OutputFormat::Json));
        assert_eq!(
            parsed(&["get", "k", "-o", "json"]),
            Some(OutputFormat::Json)
        );
        assert_eq!(parsed(&["-o", "raw", "get", "k"]), Some(OutputFormat::Raw));
        assert_eq!(parsed(&["get", "k"]), None);
        assert!(matches!(
            parse_from(["client", "--json", "-o", "text", "get", "k"]),
            Parsed::Usage(_)
        ));
    }
}
