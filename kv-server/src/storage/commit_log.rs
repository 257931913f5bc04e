//! The seam between the commit pipeline and durable storage.

use std::io;

use kv_core::Batch;

/// Where the commit pipeline persists each batch before applying it.
///
/// The pipeline calls [`commit`](CommitLog::commit) once per batch, from its
/// single writer thread, before any change in the batch becomes visible to
/// readers. An `Err` means the batch is not durable: it is not applied and
/// every command in it is answered with an error.
pub trait CommitLog: Send {
    /// Persists `batch` per this log's durability policy.
    ///
    /// # Errors
    ///
    /// Any I/O error writing or syncing the batch.
    fn commit(&mut self, batch: &Batch) -> io::Result<()>;

    /// Whether every batch costs a sync (`--fsync always`), so that larger
    /// batches are worth a short wait.
    fn syncs_each_batch(&self) -> bool {
        false
    }

    /// Makes everything committed durable and stops background work. The
    /// pipeline calls it once, when it stops.
    ///
    /// # Errors
    ///
    /// The final sync failed.
    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A log that keeps nothing: the store lives in memory only.
#[derive(Debug, Default)]
pub struct MemoryOnly;

impl CommitLog for MemoryOnly {
    fn commit(&mut self, _batch: &Batch) -> io::Result<()> {
        Ok(())
    }
}
