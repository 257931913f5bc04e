//! [`StorageStatus`]: the storage's state as `GET /` reports it.

use std::sync::OnceLock;

use crate::storage::fsync_policy::FsyncPolicy;

/// Shared between the writer (which records a failure) and the handlers
/// (which report it).
#[derive(Debug, Default)]
pub struct StorageStatus {
    /// `None` when running `--in-memory`.
    policy: Option<FsyncPolicy>,
    /// Set once, on the first write or sync failure; writes are refused
    /// from then on until a restart.
    failure: OnceLock<String>,
}

impl StorageStatus {
    /// The status of a server with a data directory and `policy`.
    pub fn durable(policy: FsyncPolicy) -> Self {
        Self {
            policy: Some(policy),
            failure: OnceLock::new(),
        }
    }

    /// The status of an `--in-memory` server.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The fsync policy, or `None` in memory.
    pub fn policy(&self) -> Option<FsyncPolicy> {
        self.policy
    }

    /// Records a write or sync failure. Only the first is kept.
    pub fn fail(&self, error: String) {
        let _ = self.failure.set(error);
    }

    /// The failure that stopped writes, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}
