//! The replicated log of replicated mode, behind traits: the server's
//! commit pipeline appends to a [`ReplicatedLog`] and applies what a
//! [`LogReader`] reads back, in order, without seeing which system keeps
//! the log. [`crate::nats::jetstream`] implements both on a NATS JetStream
//! stream, and [`SnapshotStore`] on a JetStream Object Store bucket.
//!
//! The log orders opaque messages: each has a sequence number (1, 2, ...,
//! with no gaps) and the time the log stored it. It deduplicates by a
//! message id over a window, so an append retried with the same id is
//! stored once.

use std::io::Read;
use std::time::Duration;

use thiserror::Error;

/// One message read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// Its place in the log (the first message is 1).
    pub seq: u64,
    /// When the log stored it, in milliseconds since the Unix epoch, by
    /// the log's clock (not the reader's).
    pub time_ms: u64,
    /// Messages after this one that the log already holds.
    pub pending: u64,
    /// The bytes appended.
    pub payload: Vec<u8>,
}

/// An append the log confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The message's sequence number.
    pub seq: u64,
    /// The message id was seen before: this is the earlier message's
    /// sequence and nothing new was stored.
    pub duplicate: bool,
}

/// Why an append was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// The message surely was not stored (it was never sent, nothing
    /// accepted it, or the log refused it).
    #[error("not stored: {0}")]
    NotStored(String),
    /// The message may have been stored (it was sent and no answer came):
    /// appending it again with the same id is safe.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Called once with the outcome of an append.
pub type AppendDone = Box<dyn FnOnce(Result<Stored, AppendError>) + Send>;

/// The first and last sequence numbers the log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// The oldest message kept (`last_seq + 1` when empty).
    pub first_seq: u64,
    /// The newest message (0 when nothing was ever appended).
    pub last_seq: u64,
}

/// Why reading or managing the log failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LogError {
    /// The messages asked for were trimmed away: state must come from a
    /// snapshot covering at least `first_seq - 1`.
    #[error("the log was trimmed: message {wanted} is gone, the oldest kept is {first_seq}")]
    Trimmed {
        /// The sequence asked for.
        wanted: u64,
        /// The oldest message the log holds.
        first_seq: u64,
    },
    /// The log cannot be reached or did not answer in time.
    #[error("the log is unavailable: {0}")]
    Unavailable(String),
    /// The log answered with something unexpected.
    #[error("the log answered unexpectedly: {0}")]
    Protocol(String),
}

/// An ordered, replicated, deduplicating log of messages.
pub trait ReplicatedLog: Send + Sync + std::fmt::Debug {
    /// Sends `payload` under `msg_id` and returns at once; `done` is called
    /// exactly once, from another thread, when the log confirms or refuses
    /// it, or when no answer came within the log's acknowledgement timeout
    /// ([`AppendError::Unknown`]).
    fn append(&self, msg_id: &str, payload: &[u8], done: AppendDone);

    /// The log's bounds, asked of the log itself (a round trip).
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when no answer comes in time.
    fn bounds(&self) -> Result<LogBounds, LogError>;

    /// A reader that yields every message from `from_seq` on, in order.
    fn reader(&self, from_seq: u64) -> Box<dyn LogReader>;

    /// Removes every message before `seq`.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when the log did not confirm it.
    fn trim_before(&self, seq: u64) -> Result<(), LogError>;

    /// The largest message the log accepts, in bytes.
    fn max_message_bytes(&self) -> usize;
}

/// Reads a log forward, one message at a time, never skipping one.
pub trait LogReader: Send + std::fmt::Debug {
    /// The next message, waiting up to `timeout`; `Ok(None)` when none came
    /// (the reader reconnects by itself when the log moves or fails over).
    ///
    /// # Errors
    ///
    /// [`LogError::Trimmed`] when the next message is gone from the log.
    fn next(&mut self, timeout: Duration) -> Result<Option<LogMessage>, LogError>;

    /// The sequence of the next message it will yield.
    fn next_seq(&self) -> u64;
}

/// A shared snapshot: its description and its bytes, as they download.
pub type SharedSnapshot = (String, Box<dyn Read + Send>);

/// Where replicas share snapshots of their state, so that a new replica
/// does not need the whole log. One snapshot is kept: the newest uploaded.
pub trait SnapshotStore: Send + Sync + std::fmt::Debug {
    /// The description uploaded with the snapshot held, if any.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when the store cannot be reached.
    fn newest(&self) -> Result<Option<String>, LogError>;

    /// The snapshot held, with its description, if any.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when the store cannot be reached.
    fn download(&self) -> Result<Option<SharedSnapshot>, LogError>;

    /// Replaces the snapshot held with `data`, described by `description`.
    ///
    /// # Errors
    ///
    /// [`LogError::Unavailable`] when the upload did not complete.
    fn upload(&self, description: &str, data: &mut dyn Read) -> Result<(), LogError>;
}
