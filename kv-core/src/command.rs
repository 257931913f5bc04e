//! Mutations of the store and what they did.

use std::sync::Arc;

use crate::entry::Entry;
use crate::txn::{Txn, TxnResult};

/// What must be true of a key for a command to apply (compare-and-set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    /// No condition.
    #[default]
    Always,
    /// The key must not exist (`If-None-Match: *`).
    Absent,
    /// The key must exist (`If-Match: *`).
    Exists,
    /// The key's `mod_rev` must be this (`If-Match: "<rev>"`).
    ModRev(u64),
}

impl Condition {
    /// Whether the condition holds for the key's current entry.
    pub fn holds(self, current: Option<&Entry>) -> bool {
        match self {
            Condition::Always => true,
            Condition::Absent => current.is_none(),
            Condition::Exists => current.is_some(),
            Condition::ModRev(rev) => current.is_some_and(|e| e.mod_rev() == rev),
        }
    }
}

/// A mutation, as queued for the single writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Store `value` under `key`, replacing any previous value.
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
        /// The value's media type, kept with it (raw API).
        content_type: Option<Arc<str>>,
        /// When the key expires (milliseconds since the epoch), if ever.
        expires_at: Option<u64>,
        /// Applies only if this holds.
        condition: Condition,
    },
    /// Remove `key` if it exists.
    Rm {
        /// The key.
        key: String,
        /// Applies only if this holds.
        condition: Condition,
    },
    /// Remove every key starting with `prefix` (all keys for an empty
    /// prefix), atomically: all removals share one revision.
    RmPrefix {
        /// The prefix.
        prefix: String,
    },
    /// A transaction, committed atomically at one revision.
    Txn(Txn),
    /// Remove `key` because it expired, if it is still the write at
    /// `mod_rev` and its deadline has passed.
    Expire {
        /// The key.
        key: String,
        /// The write whose deadline passed.
        mod_rev: u64,
    },
}

impl Command {
    /// An unconditional set with no content type.
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Command::Set {
            key: key.into(),
            value: value.into(),
            content_type: None,
            expires_at: None,
            condition: Condition::Always,
        }
    }

    /// An unconditional remove.
    pub fn rm(key: impl Into<String>) -> Self {
        Command::Rm {
            key: key.into(),
            condition: Condition::Always,
        }
    }

    /// The key this command touches (the prefix, for `RmPrefix`).
    pub fn key(&self) -> &str {
        match self {
            Command::Set { key, .. } | Command::Rm { key, .. } | Command::Expire { key, .. } => key,
            Command::RmPrefix { prefix } => prefix,
            Command::Txn(_) => "",
        }
    }

    /// The command's condition.
    pub fn condition(&self) -> Condition {
        match self {
            Command::Set { condition, .. } | Command::Rm { condition, .. } => *condition,
            Command::RmPrefix { .. } | Command::Txn(_) | Command::Expire { .. } => {
                Condition::Always
            }
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
    /// An expiry was evaluated.
    Expire {
        /// The revision of the removal, or the store revision when the key
        /// had been rewritten or removed since.
        rev: u64,
        /// Whether the key was removed.
        expired: bool,
    },
    /// A transaction was evaluated.
    Txn {
        /// The revision its changes were committed at, or the store
        /// revision when it changed nothing.
        rev: u64,
        /// Whether every comparison held (the success branch ran).
        succeeded: bool,
        /// One result per operation of the branch that ran.
        results: Vec<TxnResult>,
    },
    /// A prefix removal was evaluated.
    RmPrefix {
        /// The revision of the removals, or the store revision when nothing
        /// matched.
        rev: u64,
        /// How many keys were removed.
        removed: u64,
    },
}

/// The effect of a committed change on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key now holds this entry.
    Put(Entry),
    /// The key was removed.
    Remove,
    /// The key expired and was removed.
    Expire,
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
