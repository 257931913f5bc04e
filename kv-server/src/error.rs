//! [`ServerError`]: every error the server answers with. The HTTP layer
//! maps each to its status and the JSON error shape
//! ([`crate::http::error`]), in one place.

use kv_core::CoreError;
use thiserror::Error;

/// An error answer: `{"error": {"code": "...", "message": "..."}}` with the
/// status of its kind.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Malformed request: bad JSON, missing field, bad query string (400).
    #[error("{0}")]
    BadRequest(String),
    /// A key that is empty or too long (400).
    #[error("{0}")]
    InvalidKey(CoreError),
    /// A body or value over its limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A body whose content type is not the one the route takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No bearer token, or not a valid one, while authentication is on (401).
    #[error("authentication required: {0}")]
    Unauthorized(String),
    /// The token is valid but lacks the right on these keys (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request's headers are over the limit (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// The request's headers did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// No such key, where the API answers 404 for it (404).
    #[error("no such key: {0:?}")]
    KeyNotFound(String),
    /// No such route (404).
    #[error("no route for {0}")]
    NotFound(String),
    /// The route exists but not for this method (405).
    #[error("method not allowed; this route accepts {}", allow.join(", "))]
    MethodNotAllowed {
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static [&'static str],
    },
    /// A watch asked for revisions no longer kept (410).
    #[error(
        "revision {requested} is no longer available; the oldest kept is {oldest_rev}: \
         read the current state and watch from there"
    )]
    Gone {
        /// The revision asked for.
        requested: u64,
        /// The oldest revision still available.
        oldest_rev: u64,
    },
    /// A conditional request's condition did not hold (412).
    #[error(
        "precondition failed: the key's revision is {}, the store's is {rev}",
        mod_rev.map_or("none (no such key)".to_owned(), |r| r.to_string())
    )]
    ConditionFailed {
        /// The key's current `mod_rev`, if it exists.
        mod_rev: Option<u64>,
        /// The store revision.
        rev: u64,
    },
    /// The server cannot take writes now, for example while shutting down (503).
    #[error("{0}")]
    Unavailable(String),
    /// The data is still being loaded after a start (503, `Retry-After: 1`).
    #[error("{0}")]
    Recovering(String),
    /// Writes are refused after a write or fsync failure of the log (503).
    #[error("{0}")]
    StorageFailed(String),
    /// Replicated mode: the write surely was not committed, the log had no
    /// quorum in time (503).
    #[error("{0}")]
    ClusterUnavailable(String),
    /// Replicated mode: the write may or may not take effect; a retry with
    /// the same `Idempotency-Key` is safe (504).
    #[error("{0}")]
    OutcomeUnknown(String),
    /// A bug: something that should not happen did (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServerError {
    /// The stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::BadRequest(_) => "bad_request",
            ServerError::InvalidKey(_) => "invalid_key",
            ServerError::PayloadTooLarge(_) => "payload_too_large",
            ServerError::UnsupportedMediaType(_) => "unsupported_media_type",
            ServerError::Unauthorized(_) => "unauthorized",
            ServerError::Forbidden(_) => "forbidden",
            ServerError::HeadersTooLarge(_) => "headers_too_large",
            ServerError::RequestTimeout(_) => "request_timeout",
            ServerError::NotFound(_) => "not_found",
            ServerError::KeyNotFound(_) => "key_not_found",
            ServerError::MethodNotAllowed { .. } => "method_not_allowed",
            ServerError::Gone { .. } => "revision_gone",
            ServerError::ConditionFailed { .. } => "condition_failed",
            ServerError::Unavailable(_) => "unavailable",
            ServerError::StorageFailed(_) => "storage_failed",
            ServerError::Recovering(_) => "recovering",
            ServerError::ClusterUnavailable(_) => "cluster_unavailable",
            ServerError::OutcomeUnknown(_) => "outcome_unknown",
            ServerError::Internal(_) => "internal",
        }
    }
}

impl From<CoreError> for ServerError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::EmptyKey | CoreError::KeyTooLong { .. } => ServerError::InvalidKey(e),
            CoreError::InvalidTxn(message) => ServerError::BadRequest(message),
            CoreError::ValueTooLarge { .. } => ServerError::PayloadTooLarge(e.to_string()),
            CoreError::ConditionFailed { mod_rev, rev } => {
                ServerError::ConditionFailed { mod_rev, rev }
            }
            other => ServerError::Internal(other.to_string()),
        }
    }
}
