//! The client's error type.

use thiserror::Error;

/// What can go wrong talking to a kv-store server.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached (refused, timed out, name not found).
    #[error("cannot reach the server at {url}: {detail}")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The server answered with an error status.
    #[error("server answered {status} {code}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The error code from the JSON body, such as `invalid_key`.
        code: String,
        /// The message from the JSON body.
        message: String,
    },
    /// A conditional write's condition did not hold (412).
    #[error("{message}")]
    ConditionFailed {
        /// The key's current `mod_rev`, or `None` when it does not exist.
        mod_rev: Option<u64>,
        /// The store's revision.
        rev: Option<u64>,
        /// The server's explanation.
        message: String,
    },
    /// A watch asked for revisions the server no longer keeps (410).
    #[error("{message}")]
    Gone {
        /// The oldest revision still available.
        oldest_rev: u64,
        /// The server's explanation.
        message: String,
    },
    /// The server answered something that is not the expected JSON.
    #[error("unexpected answer from {url}: {detail}")]
    Protocol {
        /// The URL that was called.
        url: String,
        /// What was wrong with the answer.
        detail: String,
    },
}

/// A `Result` whose error is [`ClientError`].
pub type Result<T> = std::result::Result<T, ClientError>;
