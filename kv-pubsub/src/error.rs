//! The feed's error type.

use thiserror::Error;

/// What can go wrong reading or connecting the feed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The revision asked for is older than anything the feed still holds.
    #[error("revision {requested} is gone; the oldest kept is {oldest}")]
    Gone {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision available.
        oldest: u64,
    },
    /// A NATS connection failed.
    #[error("NATS at {url}: {source}")]
    Nats {
        /// The server URL.
        url: String,
        /// What the client said.
        source: std::io::Error,
    },
}

/// A `Result` whose error is [`FeedError`].
pub type Result<T> = std::result::Result<T, FeedError>;
