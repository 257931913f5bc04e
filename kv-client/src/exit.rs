//! Exit codes, and why a command failed: the one place that decides which
//! code a failure gets and how it is told, in the CLI's terms (its flags),
//! not HTTP's.

use std::path::{Path, PathBuf};

use crate::error::ClientError;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the key does not exist (`get`, `rm`, `del`).
pub const EXIT_NOT_FOUND: u8 = 1;
/// Exit code: invalid command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached, or the connection broke.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the server answered with an error.
pub const EXIT_SERVER_ERROR: u8 = 4;
/// Exit code: a local file could not be read or written.
pub const EXIT_LOCAL_ERROR: u8 = 5;
/// Exit code: `sub` cannot resume because the server no longer has the
/// revisions it needs (events would be lost).
pub const EXIT_EVENTS_LOST: u8 = 6;
/// Exit code: a conditional write's condition did not hold, or a
/// transaction's failure branch ran.
pub const EXIT_CONDITION_FAILED: u8 = 7;
/// Exit code: the server refused the token (401: missing or wrong; 403: no
/// right on those keys).
pub const EXIT_UNAUTHORIZED: u8 = 8;
/// Exit code: the input (a file or stdin) is not valid: not JSON, a bad
/// record.
pub const EXIT_BAD_INPUT: u8 = 9;

/// The exit codes, as `client --help` ends with them.
pub const EXIT_CODES_HELP: &str = "EXIT CODES:
    0  success
    1  the key does not exist (get, rm, del)
    2  invalid command line
    3  the server cannot be reached, or the connection broke
    4  the server answered an error
    5  a local file could not be read or written
    6  sub: events were lost (the server no longer has them)
    7  a condition (--if-rev, --create) did not hold; txn: the failure branch ran
    8  the server refused the token (--token): missing, wrong, or without the right
    9  invalid input: a file or stdin that is not valid JSON or NDJSON";

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The server, or the way to it.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The output, or a local file being written.
    #[error("{0}")]
    Output(#[from] std::io::Error),
    /// A local file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stream from the server stopped halfway.
    #[error("the download stopped: {0}")]
    Download(std::io::Error),
    /// The input is not valid.
    #[error("{0}")]
    BadInput(String),
    /// A combination of flags the parser cannot check.
    #[error("{0}")]
    Usage(String),
}

impl Failure {
    /// A local file that could not be read.
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        Self::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// The exit code this failure ends the process with.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Client(ClientError::Unreachable { .. }) => EXIT_UNREACHABLE,
            Failure::Client(ClientError::Gone { .. }) => EXIT_EVENTS_LOST,
            Failure::Client(ClientError::ConditionFailed { .. }) => EXIT_CONDITION_FAILED,
            Failure::Client(ClientError::Server {
                status: 401 | 403, ..
            }) => EXIT_UNAUTHORIZED,
            Failure::Client(_) => EXIT_SERVER_ERROR,
            Failure::Output(_) | Failure::Read { .. } => EXIT_LOCAL_ERROR,
            Failure::Download(_) => EXIT_UNREACHABLE,
            Failure::BadInput(_) => EXIT_BAD_INPUT,
            Failure::Usage(_) => crate::exit::EXIT_USAGE,
        }
    }

    /// Whether the output was closed by its reader (`client sub | head`):
    /// not an error to report.
    pub(crate) fn is_closed_output(&self) -> bool {
        matches!(self, Failure::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The one line that says what went wrong; `token_given` says whether
    /// `--token` (or `KVSTORE_AUTH_TOKEN`) was set.
    pub(crate) fn describe(&self, token_given: bool) -> String {
        match self {
            Failure::Client(ClientError::Server { status: 401, .. }) if token_given => {
                "the server refused the token given with --token (or KVSTORE_AUTH_TOKEN): \
                 it is not one of its tokens"
                    .into()
            }
            Failure::Client(ClientError::Server { status: 401, .. }) => {
                "the server requires a token: pass --token TOKEN (or set KVSTORE_AUTH_TOKEN)".into()
            }
            Failure::Client(ClientError::Server {
                status: 403,
                message,
                ..
            }) => format!("the token (--token) does not allow this: {message}"),
            other => other.to_string(),
        }
    }
}
