//! Exit codes, and why a command failed: the one place that decides which
//! code a failure gets.

use crate::error::ClientError;

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
/// Exit code: `sub` cannot resume because the server no longer has the
/// revisions it needs (events would be lost).
pub const EXIT_EVENTS_LOST: u8 = 6;
/// Exit code: a conditional write's condition did not hold.
pub const EXIT_CONDITION_FAILED: u8 = 7;
/// Exit code: the server refused the token (401: missing or wrong; 403: no
/// right on those keys).
pub const EXIT_UNAUTHORIZED: u8 = 8;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The server, or the way to it.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A local file, or the output.
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

impl Failure {
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
            Failure::Output(_) => EXIT_LOCAL_ERROR,
        }
    }
}
