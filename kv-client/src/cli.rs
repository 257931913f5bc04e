//! The command-line options of `client`.
//!
//! This is the only file of the client that uses `structopt`, so replacing it
//! (it is in maintenance upstream) touches this file alone.

use kv_core::address::{ServerAddr, DEFAULT_SERVER_HOST};
use structopt::clap::ErrorKind;
use structopt::StructOpt;

/// kv-store client: read and write keys on a kv-store server.
#[derive(Debug, StructOpt)]
#[structopt(
    name = "client",
    about = "kv-store client: read and write keys on a kv-store server."
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

    /// Print the server's JSON answer instead of plain text.
    #[structopt(long, global = true)]
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
    /// `Remove: {key: K}` (one JSON event per line with --json). Streams from
    /// the server, reconnecting and resuming by itself; --nats reads NATS
    /// instead.
    Sub(SubArgs),
    /// Write every key (under --prefix) to stdout as NDJSON, one
    /// `{"key", "value", ...}` object per line, in key order.
    Export(ExportArgs),
    /// Store every key of an NDJSON export (FILE, or `-` for stdin), in
    /// transactions of 100.
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
    /// Time to live: 1500ms, 30s, 5m, 2h, 1d.
    #[structopt(long)]
    pub ttl: Option<String>,
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
    #[structopt(long, default_value = "10s", parse(try_from_str = crate::bench::parse_duration))]
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
