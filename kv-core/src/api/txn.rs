//! The wire types of `POST /v1/txn`.

use serde::{Deserialize, Serialize};

use crate::api::KvEntry;

/// Default most comparisons plus operations in one transaction.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// What one operation of a transaction did, as `POST /v1/txn` answers it:
/// exactly one of the fields is set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnOpResult {
    /// For a put: `{"created": bool}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub put: Option<TxnPutResult>,
    /// For a delete: `{"deleted": bool}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<TxnDeleteResult>,
    /// For a get: whether the key exists, and its entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get: Option<TxnGetResult>,
}

/// The result of a get in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnGetResult {
    /// Whether the key exists.
    pub found: bool,
    /// Its entry, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<KvEntry>,
}

/// The result of a put in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnPutResult {
    /// The key did not exist before.
    pub created: bool,
}

/// The result of a delete in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnDeleteResult {
    /// The key existed and was removed.
    pub deleted: bool,
}

/// Answer to `POST /v1/txn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxnResponse {
    /// Whether every comparison held (the `success` branch ran).
    pub succeeded: bool,
    /// The revision of its changes, or the store revision when it changed
    /// nothing.
    pub rev: u64,
    /// One result per operation of the branch that ran.
    pub results: Vec<TxnOpResult>,
}
