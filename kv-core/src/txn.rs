//! Transactions: compare, then one branch of operations, committed
//! atomically at one revision.

use std::sync::Arc;

use crate::entry::Entry;

/// How a comparison compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Greater than.
    Gt,
    /// Less than or equal.
    Le,
    /// Greater than or equal.
    Ge,
}

impl CompareOp {
    /// Parses `==`, `!=`, `<`, `>`, `<=`, `>=`.
    pub fn parse(s: &str) -> Option<CompareOp> {
        Some(match s {
            "==" | "=" => CompareOp::Eq,
            "!=" => CompareOp::Ne,
            "<" => CompareOp::Lt,
            ">" => CompareOp::Gt,
            "<=" => CompareOp::Le,
            ">=" => CompareOp::Ge,
            _ => return None,
        })
    }

    fn holds<T: Ord + ?Sized>(self, left: &T, right: &T) -> bool {
        match self {
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
            CompareOp::Lt => left < right,
            CompareOp::Gt => left > right,
            CompareOp::Le => left <= right,
            CompareOp::Ge => left >= right,
        }
    }
}

/// What a comparison looks at, with the value it is compared to. A missing
/// key has revisions and version 0, no value, and does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's `mod_rev`.
    ModRev(u64),
    /// The key's `create_rev`.
    CreateRev(u64),
    /// The key's `version`.
    Version(u64),
    /// The key's value (a missing key compares as no value: only `!=` holds).
    Value(Vec<u8>),
    /// Whether the key exists.
    Exists(bool),
}

/// One comparison of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// What is compared, and to what.
    pub target: CompareTarget,
    /// How.
    pub op: CompareOp,
}

impl Compare {
    /// Whether the comparison holds for the key's current entry.
    pub fn holds(&self, current: Option<&Entry>) -> bool {
        let number = |f: fn(&Entry) -> u64| current.map_or(0, f);
        match &self.target {
            CompareTarget::ModRev(v) => self.op.holds(&number(Entry::mod_rev), v),
            CompareTarget::CreateRev(v) => self.op.holds(&number(Entry::create_rev), v),
            CompareTarget::Version(v) => self.op.holds(&number(Entry::version), v),
            CompareTarget::Value(v) => match current {
                Some(entry) => self.op.holds(entry.value(), v.as_slice()),
                None => self.op == CompareOp::Ne,
            },
            CompareTarget::Exists(v) => self.op.holds(&current.is_some(), v),
        }
    }
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Store a value.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Its media type, if any.
        content_type: Option<Arc<str>>,
        /// When it expires (milliseconds since the epoch), if ever.
        expires_at: Option<u64>,
    },
    /// Remove a key if it exists.
    Delete {
        /// The key.
        key: String,
    },
    /// Read a key (as it is after the branch's earlier operations).
    Get {
        /// The key.
        key: String,
    },
}

impl TxnOp {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Get { key } => key,
        }
    }

    /// Whether it changes the store.
    pub fn mutates(&self) -> bool {
        !matches!(self, TxnOp::Get { .. })
    }
}

/// A transaction: if every comparison holds, `success` runs, else `failure`.
///
/// Evaluated by [`StoreWriter::prepare`](crate::StoreWriter::prepare) as
/// [`Command::Txn`](crate::Command::Txn): all its changes share one
/// revision, or none is made.
///
/// ```
/// use kv_core::txn::{Compare, CompareOp, CompareTarget, Txn, TxnOp, TxnResult};
/// use kv_core::{Command, Limits, Outcome, Store};
///
/// let (store, mut writer) = Store::new(16, Limits::default())?;
/// // Create the key only if it does not exist; otherwise read it.
/// let create_once = || Txn {
///     compare: vec![Compare {
///         key: "leader".into(),
///         target: CompareTarget::Exists(false),
///         op: CompareOp::Eq,
///     }],
///     success: vec![TxnOp::Put {
///         key: "leader".into(),
///         value: b"node-1".to_vec(),
///         content_type: None,
///         expires_at: None,
///     }],
///     failure: vec![TxnOp::Get { key: "leader".into() }],
/// };
/// let batch = writer.prepare([Command::Txn(create_once()), Command::Txn(create_once())], 0);
/// writer.apply(&batch);
/// let Ok(Outcome::Txn { succeeded: true, rev, .. }) = &batch.outcomes[0] else { panic!() };
/// assert_eq!(*rev, 1);
/// let Ok(Outcome::Txn { succeeded: false, results, .. }) = &batch.outcomes[1] else { panic!() };
/// let TxnResult::Get { entry: Some(entry), .. } = &results[0] else { panic!() };
/// assert_eq!(entry.value(), b"node-1");
/// assert_eq!(store.revision(), 1); // the failed branch only read
/// # Ok::<(), kv_core::CoreError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// The comparisons, all of which must hold.
    pub compare: Vec<Compare>,
    /// Operations when they all hold.
    pub success: Vec<TxnOp>,
    /// Operations otherwise.
    pub failure: Vec<TxnOp>,
}

/// What one operation of the chosen branch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResult {
    /// A put: whether it created the key.
    Put {
        /// The key did not exist before.
        created: bool,
    },
    /// A delete: whether the key existed.
    Delete {
        /// The key existed and was removed.
        deleted: bool,
    },
    /// A get: the key, and its entry if it exists.
    Get {
        /// The key read.
        key: String,
        /// Its entry, if it exists.
        entry: Option<Entry>,
    },
}
