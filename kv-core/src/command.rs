//! Mutations of the store and what they did.

use std::sync::Arc;

use crate::entry::Entry;

/// A mutation, as queued for the single writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Store `value` under `key`, replacing any previous value.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key` if it exists.
    Rm {
        /// The key.
        key: String,
    },
}

impl Command {
    /// The key this command touches.
    pub fn key(&self) -> &str {
        match self {
            Command::Set { key, .. } | Command::Rm { key } => key,
        }
    }
}

/// What one command did, reported back to whoever submitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A set was committed.
    Set {
        /// The revision the set was committed at.
        rev: u64,
        /// The entry it replaced, if the key existed.
        prev: Option<Entry>,
    },
    /// A remove was evaluated.
    Rm {
        /// The revision of the removal, or the store revision at evaluation
        /// time when the key did not exist (nothing was committed then).
        rev: u64,
        /// The entry removed, if the key existed.
        removed: Option<Entry>,
    },
}

/// The effect of a committed change on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key now holds this entry.
    Put(Entry),
    /// The key was removed.
    Remove,
}

/// One committed change: exactly one per revision.
///
/// This is what the durable log records and what the change feed publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The revision of this change.
    pub rev: u64,
    /// The key changed.
    pub key: Arc<str>,
    /// What happened to it.
    pub kind: ChangeKind,
    /// The entry before the change, if the key existed.
    pub prev: Option<Entry>,
}
