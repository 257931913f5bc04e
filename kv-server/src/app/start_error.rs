//! [`StartError`]: why a server did not start, or stopped before serving.

use std::io;

use thiserror::Error;

use crate::storage::StorageError;

/// Why [`ServerBuilder`](crate::ServerBuilder) could not start a server.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is refused: the tokens or the TLS files cannot be loaded,
    /// or there is no token for an address beyond loopback (protected mode;
    /// see [`Config::insecure_no_auth`](crate::Config::insecure_no_auth)).
    #[error("{0}")]
    Config(String),
    /// An I/O error, with what was being done: listening on the address,
    /// or starting one of the server's threads.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The data could not be loaded: the data directory is locked by
    /// another server, damaged, or unreadable. The server stops.
    #[error(transparent)]
    Load(#[from] StorageError),
    /// The server was stopped before its data was loaded.
    #[error("the server stopped before its data was loaded")]
    Stopped,
}

impl StartError {
    /// An [`StartError::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
        let context = context.into();
        move |source| StartError::Io { context, source }
    }
}
