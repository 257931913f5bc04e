//! Every server setting, read from flags and environment variables (flags
//! win), with the defaults as named constants.
//!
//! This is the only file of the server that uses `structopt`, so replacing it
//! (it is in maintenance upstream) touches this file alone.

use std::io::Write as _;
use std::path::PathBuf;

use kv_core::address::{ServerAddr, DEFAULT_SERVER_HOST};
use structopt::StructOpt;

mod derived;
mod file;
mod validation;

pub use crate::commit::scheduling::WorkerScheduling;
pub use crate::storage::FsyncPolicy;
pub use derived::Secret;

/// A boolean flag's field.
type Switch = fn(&mut Config) -> &mut bool;

/// Boolean flags that also have an environment variable (clap 2 flags take
/// none), read by hand: `(flag, variable, field)`.
const BOOL_ENV_FLAGS: [(&str, &str, Switch); 2] = [
    ("insecure-no-auth", "KVSTORE_INSECURE_NO_AUTH", |c| {
        &mut c.insecure_no_auth
    }),
    ("access-log", "KVSTORE_ACCESS_LOG", |c| &mut c.access_log),
];

/// Why the command line was not turned into a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `--help` or `--version`: the text to print on stdout (exit 0).
    Info(String),
    /// An invalid flag, value or settings file: the message (exit 2).
    Invalid(String),
}

impl From<structopt::clap::Error> for ParseError {
    fn from(e: structopt::clap::Error) -> Self {
        use structopt::clap::ErrorKind;
        match e.kind {
            ErrorKind::HelpDisplayed | ErrorKind::VersionDisplayed => Self::Info(e.message),
            _ => Self::Invalid(e.message),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Info(text) | Self::Invalid(text) => f.write_str(text),
        }
    }
}

/// The HTTP layer's own ceiling on a request head: `--max-header-bytes`
/// can be at most this.
pub(crate) const HTTP_HEAD_CEILING_BYTES: usize = 128 * 1024;
/// Room for the JSON framing and escaping around a value, in bytes.
pub(crate) const BODY_OVERHEAD_BYTES: usize = 64 * 1024;

/// kv-store server: a key-value store over HTTP/JSON.
#[derive(Debug, Clone, StructOpt)]
#[structopt(
    name = "server",
    about = "kv-store server: a key-value store over HTTP/JSON, with a change feed.",
    after_help = "Every setting can also be given in the environment (shown as [env: ...]) \
                  or in a TOML file named by --config, with the flag's name as the key \
                  (max-batch = 512). Flags win over the environment, which wins over the file."
)]
pub struct Config {
    /// Address to listen on: `HOST:PORT` or `http://HOST:PORT`. Port 0 picks a
    /// free port; the bound address is printed on startup.
    #[structopt(long, env = "KVSTORE_SERVER_HOST", default_value = DEFAULT_SERVER_HOST)]
    pub host: ServerAddr,

    /// Number of store shards (a power of two).
    #[structopt(long, env = "KVSTORE_SHARDS", default_value = "64")]
    pub shards: usize,

    /// Maximum key length in bytes.
    #[structopt(long, env = "KVSTORE_MAX_KEY_BYTES", default_value = "1024")]
    pub max_key_bytes: usize,

    /// Maximum value size in bytes.
    #[structopt(long, env = "KVSTORE_MAX_VALUE_BYTES", default_value = "1048576")]
    pub max_value_bytes: usize,

    /// HTTP worker threads (default: one per CPU core).
    #[structopt(long, env = "KVSTORE_WORKERS")]
    pub workers: Option<usize>,

    /// How the HTTP workers are scheduled on Linux: `batch` (SCHED_BATCH: a
    /// woken worker does not preempt the writer mid-batch) or `normal`.
    #[structopt(long, env = "KVSTORE_WORKER_SCHEDULING", default_value = "batch")]
    pub worker_scheduling: WorkerScheduling,

    /// Most commands the writer commits in one batch.
    #[structopt(long, env = "KVSTORE_MAX_BATCH", default_value = "1024")]
    pub max_batch: usize,

    /// Most writes in flight (submitted, not yet answered); more wait.
    #[structopt(long, env = "KVSTORE_QUEUE_DEPTH", default_value = "8192")]
    pub queue_depth: usize,

    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM.
    #[structopt(long, env = "KVSTORE_SHUTDOWN_TIMEOUT", default_value = "30")]
    pub shutdown_timeout: u64,

    /// Data directory (created if missing, locked while the server runs).
    #[structopt(
        long,
        env = "KVSTORE_DATA_DIR",
        default_value = "data",
        parse(from_os_str)
    )]
    pub data_dir: PathBuf,

    /// Keep everything in memory: no data directory, nothing survives a restart.
    #[structopt(long)]
    pub in_memory: bool,

    /// When the log is synced: `always` (an acknowledged write is on disk),
    /// `everysec` (at most about a second lost on power loss) or `no` (the OS
    /// decides).
    #[structopt(long, env = "KVSTORE_FSYNC", default_value = "always")]
    pub fsync: FsyncPolicy,

    /// Start even if the log is damaged mid-file: keep the longest valid
    /// prefix and move the rest to DATA_DIR/damaged/.
    #[structopt(long)]
    pub repair: bool,

    /// Start a new log segment past this many bytes.
    #[structopt(long, env = "KVSTORE_SEGMENT_BYTES", default_value = "67108864")]
    pub segment_bytes: u64,

    /// Never compact a log smaller than this many bytes.
    #[structopt(long, env = "KVSTORE_COMPACT_MIN_BYTES", default_value = "67108864")]
    pub compact_min_bytes: u64,

    /// Compact when the log exceeds this many times the size of the live data.
    #[structopt(long, env = "KVSTORE_COMPACT_RATIO", default_value = "2")]
    pub compact_ratio: f64,

    /// Events the change feed keeps in memory for watchers to resume from.
    #[structopt(long, env = "KVSTORE_FEED_RING_EVENTS", default_value = "100000")]
    pub feed_ring_events: usize,

    /// Bytes (keys and values) the change feed keeps in memory.
    #[structopt(long, env = "KVSTORE_FEED_RING_BYTES", default_value = "67108864")]
    pub feed_ring_bytes: usize,

    /// Most events waiting to be sent to one watcher; a watcher whose
    /// buffer is full and that reads nothing for a second is cut off (told
    /// where to resume).
    #[structopt(long, env = "KVSTORE_WATCH_BUFFER", default_value = "10000")]
    pub watch_buffer: usize,

    /// Most bytes waiting to be sent to one watcher (its events share the
    /// feed's encoded bytes); a watcher whose buffer is full and that reads
    /// nothing for a second is cut off (told where to resume).
    #[structopt(long, env = "KVSTORE_WATCH_BUFFER_BYTES", default_value = "1048576")]
    pub watch_buffer_bytes: usize,

    /// Most bytes waiting to be sent to all watchers together; a watcher
    /// that would go over while it has bytes waiting is cut off.
    #[structopt(
        long,
        env = "KVSTORE_WATCH_TOTAL_BUFFER_BYTES",
        default_value = "134217728"
    )]
    pub watch_total_buffer_bytes: usize,

    /// Milliseconds between progress events on an idle watch stream.
    #[structopt(long, env = "KVSTORE_WATCH_HEARTBEAT_MS", default_value = "5000")]
    pub watch_heartbeat_ms: u64,

    /// NATS server to publish every change to, such as
    /// `nats://127.0.0.1:4222`. Off when unset.
    #[structopt(long, env = "KVSTORE_NATS_HOST")]
    pub nats_url: Option<String>,

    /// Prefix of the NATS subjects (`set`, `rm`, `expire`).
    #[structopt(long, env = "KVSTORE_NATS_SUBJECT_PREFIX", default_value = "")]
    pub nats_subject_prefix: String,

    /// A JetStream stream to create over the NATS subjects (if missing), so
    /// that consumers can replay changes; resent revisions are deduplicated
    /// by their `Nats-Msg-Id`.
    #[structopt(long, env = "KVSTORE_NATS_STREAM")]
    pub nats_stream: Option<String>,

    /// Replicated mode: the NATS servers (comma-separated,
    /// `nats://h1:4222,nats://h2:4222`) of a JetStream cluster whose stream
    /// is the store's replicated log; this server is one replica. Off when
    /// unset (a single node).
    #[structopt(long, env = "KVSTORE_CLUSTER")]
    pub cluster: Option<String>,

    /// Replicated mode: the JetStream stream that holds the log (created
    /// when missing; its subject is `<name>.log`).
    #[structopt(long, env = "KVSTORE_CLUSTER_STREAM", default_value = "kvstore")]
    pub cluster_stream: String,

    /// Replicated mode: copies of the stream JetStream keeps, when this
    /// server creates it (an existing stream is left as it is, with a
    /// warning when it differs).
    #[structopt(long, env = "KVSTORE_CLUSTER_REPLICAS", default_value = "3")]
    pub cluster_replicas: usize,

    /// Replicated mode: milliseconds a write may wait for a quorum; then
    /// 503 `cluster_unavailable` (surely not committed) or 504
    /// `outcome_unknown` (it may still be).
    #[structopt(long, env = "KVSTORE_CLUSTER_TIMEOUT_MS", default_value = "10000")]
    pub cluster_timeout_ms: u64,

    /// Replicated mode: log messages between snapshots of this replica.
    #[structopt(long, env = "KVSTORE_CLUSTER_SNAPSHOT_EVERY", default_value = "50000")]
    pub cluster_snapshot_every: u64,

    /// Replicated mode: `/readyz` fails while this replica is more than
    /// this many log messages behind.
    #[structopt(long, env = "KVSTORE_CLUSTER_MAX_LAG", default_value = "10000")]
    pub cluster_max_lag: u64,

    /// Most bytes of keys and values in one listing page.
    #[structopt(long, env = "KVSTORE_LIST_MAX_BYTES", default_value = "4194304")]
    pub list_max_bytes: usize,

    /// Most comparisons plus operations in one transaction.
    #[structopt(long, env = "KVSTORE_MAX_TXN_OPS", default_value = "128")]
    pub max_txn_ops: usize,

    /// A bearer token with every right on every key (at least 16 bytes).
    /// With it (or --auth-file), every request must send
    /// `Authorization: Bearer <token>`.
    #[structopt(long, env = "KVSTORE_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<Secret>,

    /// A JSON file of bearer tokens, each with read / write / watch rights
    /// on key prefixes (see docs/operations.md, Tokens).
    #[structopt(long, env = "KVSTORE_AUTH_FILE", parse(from_os_str))]
    pub auth_file: Option<PathBuf>,

    /// Serve requests without a token on a non-loopback address. Without
    /// any token the server otherwise refuses to listen beyond loopback
    /// (protected mode). Also `KVSTORE_INSECURE_NO_AUTH=true`.
    #[structopt(long)]
    pub insecure_no_auth: bool,

    /// Do not serve the web console at `/ui` (it answers as an unknown
    /// route then).
    #[structopt(long)]
    pub no_ui: bool,

    /// TLS certificate chain (PEM); with --tls-key, the server speaks HTTPS.
    #[structopt(
        long,
        env = "KVSTORE_TLS_CERT",
        parse(from_os_str),
        requires = "tls-key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[structopt(
        long,
        env = "KVSTORE_TLS_KEY",
        parse(from_os_str),
        requires = "tls-cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Milliseconds a client has to send a request's headers; a slower one
    /// gets 408 and is disconnected.
    #[structopt(long, env = "KVSTORE_HEADER_TIMEOUT_MS", default_value = "5000")]
    pub header_timeout_ms: u64,

    /// Seconds an idle keep-alive connection stays open (0: one request
    /// per connection).
    #[structopt(long, env = "KVSTORE_KEEP_ALIVE_SECS", default_value = "5")]
    pub keep_alive_secs: u64,

    /// Most connections open at once, over all workers; more wait in the
    /// listen backlog.
    #[structopt(long, env = "KVSTORE_MAX_CONNECTIONS", default_value = "25000")]
    pub max_connections: usize,

    /// Most bytes of a request's line and headers; more is 431.
    #[structopt(long, env = "KVSTORE_MAX_HEADER_BYTES", default_value = "16384")]
    pub max_header_bytes: usize,

    /// Most watch streams open at once; more get 503.
    #[structopt(long, env = "KVSTORE_MAX_WATCHERS", default_value = "1024")]
    pub max_watchers: usize,

    /// Milliseconds a request waits for the data to load after a start
    /// before it gets 503 `recovering`.
    #[structopt(long, env = "KVSTORE_RECOVERY_WAIT_MS", default_value = "30000")]
    pub recovery_wait_ms: u64,

    // Everyday use: the access log and the settings file (issue 17).
    /// Write one access-log line per request (log target
    /// `kv_server::access`, at info). Off by default: it costs about a
    /// third of the read throughput. Also `KVSTORE_ACCESS_LOG=true`.
    #[structopt(long)]
    pub access_log: bool,

    /// A TOML file of settings, one per flag, named as the flag without
    /// its dashes (`max-batch = 512`, `in-memory = true`). Flags and
    /// environment variables win over it.
    #[structopt(long, env = "KVSTORE_CONFIG", parse(from_os_str))]
    pub config: Option<PathBuf>,

    /// A maintenance command instead of serving.
    #[structopt(subcommand)]
    pub command: Option<ServerCommand>,
}

// Maintenance commands of the `server` binary. Not a doc comment: structopt
// would show it as the title of `server --help`.
#[allow(missing_docs)]
#[derive(Debug, Clone, StructOpt)]
pub enum ServerCommand {
    /// Print the OpenAPI document of the HTTP API (what GET /openapi.json serves).
    Openapi,
    /// Build a data directory from a backup (`client backup FILE`). Refuses
    /// a directory that is not empty.
    Restore {
        /// The backup file.
        #[structopt(long, parse(from_os_str))]
        from: PathBuf,
        /// The data directory to create.
        #[structopt(long, parse(from_os_str))]
        data_dir: PathBuf,
    },
}

impl Config {
    /// Reads flags from the command line and settings from the environment.
    /// Exits the process (code 2) with a message on invalid flags.
    pub fn from_args() -> Self {
        match Self::parse_from(std::env::args_os()) {
            Ok(config) => config,
            Err(ParseError::Info(text)) => {
                // A closed pipe (`server --help | head`) is not an error.
                let _ = writeln!(std::io::stdout(), "{text}");
                std::process::exit(0);
            }
            Err(ParseError::Invalid(message)) => {
                eprintln!("error: {}", message.trim_start_matches("error: "));
                std::process::exit(2);
            }
        }
    }

    /// Every setting at its default, as `server` with no flags has it when
    /// no environment variable and no settings file gives one: read from
    /// nothing but the flags' declarations. What
    /// [`ServerBuilder::new`](crate::ServerBuilder::new) starts from.
    pub fn defaults() -> Self {
        let mut app = Self::clap();
        // clap 2 reads an option's environment variable when the option is
        // declared: forget what it read.
        for opt in &mut app.p.opts {
            if let Some((_, value)) = &mut opt.v.env {
                *value = None;
            }
        }
        let matches = app
            .get_matches_from_safe(["server"])
            .unwrap_or_else(|e| unreachable!("every flag has a valid default: {e}"));
        <Self as StructOpt>::from_clap(&matches)
    }

    /// Reads settings from the given arguments (the first is the program name)
    /// and the environment.
    ///
    /// # Errors
    ///
    /// Invalid or unknown flags, as a printable message.
    pub fn parse_from<I>(args: I) -> Result<Self, ParseError>
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let args = Self::with_file_settings(args)?;
        let mut config = <Self as StructOpt>::from_iter_safe(args).map_err(ParseError::from)?;
        config.read_env_flags().map_err(ParseError::Invalid)?;
        Ok(config)
    }

    /// `args` with the settings of the `--config` file (if any) that no
    /// flag and no environment variable gives, inserted as flags.
    fn with_file_settings(
        args: Vec<std::ffi::OsString>,
    ) -> Result<Vec<std::ffi::OsString>, ParseError> {
        let app = Self::clap();
        let matches = app
            .clone()
            .get_matches_from_safe(&args)
            .map_err(ParseError::from)?;
        let Some(path) = matches.value_of_os("config") else {
            return Ok(args);
        };
        // clap 2's builders are public (if hidden from its docs), and
        // structopt pins clap 2 for good: they tell which flags exist,
        // which take a value, and which the command line or the
        // environment already gives.
        let switch_env = |long: &str| {
            BOOL_ENV_FLAGS
                .iter()
                .any(|(flag, var, _)| *flag == long && std::env::var_os(var).is_some())
        };
        let flags = app.p.opts.iter().filter_map(|opt| {
            let long = opt.s.long?;
            Some(file::Flag {
                long,
                takes_value: true,
                given: matches.occurrences_of(opt.b.name) > 0
                    || opt.v.env.as_ref().is_some_and(|(_, value)| value.is_some()),
            })
        });
        let switches = app.p.flags.iter().filter_map(|flag| {
            let long = flag.s.long?;
            Some(file::Flag {
                long,
                takes_value: false,
                given: matches.occurrences_of(flag.b.name) > 0 || switch_env(long),
            })
        });
        let known: Vec<file::Flag> = flags.chain(switches).collect();
        file::insert_settings(std::path::Path::new(path), args, &known).map_err(ParseError::Invalid)
    }

    /// Boolean flags that also have an environment variable (clap 2 flags
    /// take none: [`BOOL_ENV_FLAGS`]); then the checks no flag parser does.
    fn read_env_flags(&mut self) -> Result<(), String> {
        for (_, name, field) in BOOL_ENV_FLAGS {
            let Ok(value) = std::env::var(name) else {
                continue;
            };
            match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => *field(self) = true,
                "" | "0" | "false" | "no" | "off" => {}
                _ => return Err(format!("{name} must be true or false, not {value:?}")),
            }
        }
        self.refuse_empty_switches()?;
        if self.max_header_bytes > HTTP_HEAD_CEILING_BYTES {
            return Err(format!(
                "--max-header-bytes can be at most {HTTP_HEAD_CEILING_BYTES}, the HTTP layer's ceiling"
            ));
        }
        self.refuse_unusable_values()
    }

    /// A setting that turns something on (tokens, TLS, NATS) must say what
    /// with: an empty value (often `VAR=` in an env file) is refused rather
    /// than read as either "on" or "off".
    fn refuse_empty_switches(&self) -> Result<(), String> {
        let empty_path = |p: &Option<PathBuf>| p.as_ref().is_some_and(|p| p.as_os_str().is_empty());
        let empty_text = |t: Option<&str>| t.is_some_and(|t| t.trim().is_empty());
        let checks = [
            (
                empty_text(self.auth_token.as_ref().map(Secret::expose)),
                "--auth-token (KVSTORE_AUTH_TOKEN)",
            ),
            (
                empty_path(&self.auth_file),
                "--auth-file (KVSTORE_AUTH_FILE)",
            ),
            (empty_path(&self.tls_cert), "--tls-cert (KVSTORE_TLS_CERT)"),
            (empty_path(&self.tls_key), "--tls-key (KVSTORE_TLS_KEY)"),
            (
                empty_text(self.nats_url.as_deref()),
                "--nats-url (KVSTORE_NATS_HOST)",
            ),
            (
                empty_text(self.nats_stream.as_deref()),
                "--nats-stream (KVSTORE_NATS_STREAM)",
            ),
        ];
        match checks.iter().find(|(empty, _)| *empty) {
            Some((_, name)) => Err(format!(
                "{name} is set but empty: give a value, or unset it to leave that feature off"
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
