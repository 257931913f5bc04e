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
    /// The revision asked for does not exist yet: it is past the next one
    /// the feed will publish.
    #[error("revision {requested} does not exist yet; the next is {next}")]
    Future {
        /// The revision asked for.
        requested: u64,
        /// The next revision the feed will publish.
        next: u64,
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
