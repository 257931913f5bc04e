//! Size limits on keys and values, and their validation.

use std::collections::HashSet;

use crate::command::Command;
use crate::error::{CoreError, Result};
use crate::txn::{Txn, TxnOp};

/// Default maximum key length in bytes (1 KiB).
pub const DEFAULT_MAX_KEY_BYTES: usize = 1024;
/// Default maximum value size in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The limits every key and value is checked against before it is stored.
///
/// ```
/// use kv_core::{CoreError, Limits};
///
/// let limits = Limits { max_key_bytes: 8, ..Limits::default() };
/// assert!(limits.check_key("short").is_ok());
/// assert!(matches!(limits.check_key("much-too-long"), Err(CoreError::KeyTooLong { .. })));
/// assert!(matches!(limits.check_key(""), Err(CoreError::EmptyKey)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum key length in bytes (UTF-8 encoded).
    pub max_key_bytes: usize,
    /// Maximum value size in bytes.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: DEFAULT_MAX_KEY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl Limits {
    /// Checks that `key` is non-empty and within the key limit.
    ///
    /// # Errors
    ///
    /// [`CoreError::EmptyKey`] or [`CoreError::KeyTooLong`].
    pub fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(CoreError::EmptyKey);
        }
        if key.len() > self.max_key_bytes {
            return Err(CoreError::KeyTooLong {
                len: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    /// Checks that `value` is within the value limit.
    ///
    /// # Errors
    ///
    /// [`CoreError::ValueTooLarge`].
    pub fn check_value(&self, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(CoreError::ValueTooLarge {
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Every key and value of `command` within the limits (and, for a
    /// transaction, no key changed twice in one branch): what can be told
    /// without the store. The writer checks this for every command; a
    /// replicated server checks it before proposing one.
    ///
    /// # Errors
    ///
    /// The first limit the command breaks.
    pub fn check_command(&self, command: &Command) -> Result<()> {
        match command {
            Command::Set { key, value, .. } => {
                self.check_key(key)?;
                self.check_value(value)
            }
            Command::Rm { key, .. } => self.check_key(key),
            Command::Txn(txn) => self.check_txn(txn),
            Command::RmPrefix { .. } | Command::Expire { .. } => Ok(()),
        }
    }

    /// Every key and value of `txn` within the limits, and no key changed
    /// twice in one branch.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidTxn`] naming the operation, or
    /// [`CoreError::ValueTooLarge`].
    pub fn check_txn(&self, txn: &Txn) -> Result<()> {
        for (i, compare) in txn.compare.iter().enumerate() {
            self.check_key(&compare.key)
                .map_err(|e| CoreError::InvalidTxn(format!("compare[{i}]: {e}")))?;
        }
        for (branch, ops) in [("success", &txn.success), ("failure", &txn.failure)] {
            let mut changed = HashSet::with_capacity(ops.len());
            for (i, op) in ops.iter().enumerate() {
                self.check_key(op.key())
                    .map_err(|e| CoreError::InvalidTxn(format!("{branch}[{i}]: {e}")))?;
                if let TxnOp::Put { value, .. } = op {
                    self.check_value(value)?;
                }
                if op.mutates() && !changed.insert(op.key()) {
                    return Err(CoreError::InvalidTxn(format!(
                        "{branch}[{i}]: key {:?} is changed twice in one transaction",
                        op.key()
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_for_emptiness_and_length() {
        let limits = Limits {
            max_key_bytes: 4,
            max_value_bytes: 2,
        };
        assert_eq!(limits.check_key(""), Err(CoreError::EmptyKey));
        assert_eq!(limits.check_key("abcd"), Ok(()));
        assert_eq!(
            limits.check_key("abcde"),
            Err(CoreError::KeyTooLong { len: 5, max: 4 })
        );
        // The limit counts bytes, not characters.
        assert_eq!(
            limits.check_key("ééé"),
            Err(CoreError::KeyTooLong { len: 6, max: 4 })
        );
    }

    #[test]
    fn values_are_checked_for_size() {
        let limits = Limits {
            max_key_bytes: 4,
            max_value_bytes: 2,
        };
        assert_eq!(limits.check_value(b""), Ok(()));
        assert_eq!(limits.check_value(b"ab"), Ok(()));
        assert_eq!(
            limits.check_value(b"abc"),
            Err(CoreError::ValueTooLarge { len: 3, max: 2 })
        );
    }
}
