//! A stored value and its revision metadata.

use std::sync::Arc;

/// One key's current value, with the revisions that describe its history.
///
/// Cloning is cheap: the value bytes are shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The value bytes.
    pub value: Arc<[u8]>,
    /// The revision at which the key was created (since it last did not exist).
    pub create_rev: u64,
    /// The revision of the last write to the key.
    pub mod_rev: u64,
    /// Number of writes since creation: 1 after the first set.
    pub version: u64,
    /// The media type the value was stored with, if any.
    pub content_type: Option<Arc<str>>,
}

impl Entry {
    /// The value as text, replacing any invalid UTF-8 with U+FFFD.
    ///
    /// The JSON API carries strings; values written through it are always
    /// valid UTF-8, so nothing is replaced for them.
    pub fn value_lossy(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}
