//! The change feed's wire types: the events of the watch stream (and of
//! NATS).

use serde::{Deserialize, Serialize};

/// One committed change, as the watch stream (`GET /v1/watch`) and NATS
/// carry it. On NATS, `key` and `val` keep the original payload fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchEvent {
    /// The revision of the change.
    pub rev: u64,
    /// `set`, `rm` or `expire`.
    pub op: String,
    /// The key.
    pub key: String,
    /// The new value, for `set`: the text itself, or base64 when
    /// `encoding` says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val: Option<String>,
    /// `base64` when `val` is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The value before the change, when asked for (`prev=true`) and the
    /// key existed: the text itself, or base64 when `prev_encoding` says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// `base64` when `prev` is not UTF-8; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_encoding: Option<String>,
}

impl WatchEvent {
    /// The new value's bytes, for `set`.
    ///
    /// # Errors
    ///
    /// An unknown encoding or invalid base64.
    pub fn val_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        self.val
            .as_deref()
            .map(|v| crate::value_text::from_text(v, self.encoding.as_deref()))
            .transpose()
    }
}

/// The `progress` event of the watch stream: everything up to `rev` that
/// matches the watch has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchProgress {
    /// The revision the watcher is up to date with.
    pub rev: u64,
}

/// The last event of a watch stream that was cut off because its reader
/// fell too far behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WatchCut {
    /// Resume with `from_rev` set to this (nothing before it was skipped).
    pub resume_from_rev: u64,
    /// Why the stream was cut.
    pub reason: String,
}
