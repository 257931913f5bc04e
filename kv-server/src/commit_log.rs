//! The seam between the commit pipeline and durable storage.

use std::io;

use kv_core::Batch;

/// Where the commit pipeline persists each batch before applying it.
///
/// The pipeline calls [`commit`](CommitLog::commit) once per batch, holding
/// its writer lock (so one batch at a time, in revision order), before any
/// change in the batch becomes visible to readers. An `Err` means the batch is not durable: it is not applied and
/// every command in it is answered with an error.
pub trait CommitLog: Send {
    /// Persists `batch` per this log's durability policy.
    ///
    /// # Errors
    ///
    /// Any I/O error writing or syncing the batch.
    fn commit(&mut self, batch: &Batch) -> io::Result<()>;

    /// Whether each commit waits for the disk (fsync `always`). Such a log
    /// is only ever called from the writer thread, never from an HTTP
    /// worker, so that a slow disk cannot stall reads.
    fn waits_for_disk(&self) -> bool {
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
