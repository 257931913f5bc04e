//! [`StorageStatus`]: the storage's state as `GET /` and `/metrics`
//! report it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::storage::fsync_policy::FsyncPolicy;

/// ServerContext between the writer (which records a failure, fsync times and the
/// log's size) and the handlers (which report them).
#[derive(Debug)]
pub struct StorageStatus {
    /// `None` when running `--in-memory`.
    policy: Option<FsyncPolicy>,
    /// Set once, on the first write or sync failure; writes are refused
    /// from then on until a restart.
    failure: OnceLock<String>,
    /// Bytes in all segments since the last snapshot.
    log_bytes: Arc<AtomicU64>,
    /// How long each fsync of the log took.
    fsync_seconds: Histogram,
    /// Compactions completed.
    compactions: Counter,
}

impl Default for StorageStatus {
    fn default() -> Self {
        Self {
            policy: None,
            failure: OnceLock::new(),
            log_bytes: Arc::default(),
            // 25 us to about 0.8 s.
            fsync_seconds: Histogram::new(exponential_buckets(25e-6, 2.0, 16)),
            compactions: Counter::default(),
        }
    }
}

impl StorageStatus {
    /// The status of a server with a data directory and `policy`.
    pub fn durable(policy: FsyncPolicy) -> Self {
        Self {
            policy: Some(policy),
            ..Self::default()
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

    /// The log's size counter, shared with the writer and compaction.
    pub fn log_bytes(&self) -> &Arc<AtomicU64> {
        &self.log_bytes
    }

    /// Bytes in the log since the last snapshot.
    pub fn log_len(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// Records how long an fsync took.
    pub fn record_fsync(&self, took: Duration) {
        self.fsync_seconds.observe(took.as_secs_f64());
    }

    /// Records a completed compaction.
    pub fn record_compaction(&self) {
        self.compactions.inc();
    }

    /// The fsync histogram, for `/metrics`.
    pub fn fsync_histogram(&self) -> &Histogram {
        &self.fsync_seconds
    }

    /// The compaction counter, for `/metrics`.
    pub fn compaction_counter(&self) -> &Counter {
        &self.compactions
    }
}
