//! Size limits on keys and values, and their validation.

use crate::error::{CoreError, Result};

/// Default maximum key length in bytes (1 KiB).
pub const DEFAULT_MAX_KEY_BYTES: usize = 1024;
/// Default maximum value size in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The limits every key and value is checked against before it is stored.
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
