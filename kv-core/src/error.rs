//! The error type of `kv-core`.

use thiserror::Error;

/// Everything that can go wrong inside the store.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The key is the empty string.
    #[error("key must not be empty")]
    EmptyKey,
    /// The key is longer than the configured limit.
    #[error("key is {len} bytes, over the limit of {max} bytes")]
    KeyTooLong {
        /// Length of the offending key in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The value is larger than the configured limit.
    #[error("value is {len} bytes, over the limit of {max} bytes")]
    ValueTooLarge {
        /// Size of the offending value in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A command's condition did not hold.
    #[error("condition failed: the key's revision is {}, the store's is {rev}", mod_rev.map_or("none (no such key)".to_owned(), |r| r.to_string()))]
    ConditionFailed {
        /// The key's current `mod_rev`, or `None` if it does not exist.
        mod_rev: Option<u64>,
        /// The store revision the condition was evaluated at.
        rev: u64,
    },
    /// A transaction that cannot run as given.
    #[error("invalid transaction: {0}")]
    InvalidTxn(String),
    /// The shard count is not a power of two, or is zero.
    #[error("shard count must be a power of two between 1 and 65536, got {0}")]
    InvalidShardCount(usize),
    /// An address could not be parsed.
    #[error("invalid server address {input:?}: {reason}")]
    InvalidAddress {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A file does not start with the expected header.
    #[error("bad file header: {0}")]
    BadFileHeader(String),
    /// A record's payload passed its checksum but does not decode.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

/// A `Result` whose error is [`CoreError`].
pub type Result<T> = std::result::Result<T, CoreError>;
