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
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Entry {
    /// Whether the entry has expired at `now` (milliseconds since the epoch).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The value as text, replacing any invalid UTF-8 with U+FFFD.
    ///
    /// The JSON API carries strings; values written through it are always
    /// valid UTF-8, so nothing is replaced for them.
    pub fn value_lossy(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}
