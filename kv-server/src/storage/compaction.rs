//! Background compaction: write a snapshot while writes go on, then delete
//! the segments and snapshots it replaces.
//!
//! Crash safety: the snapshot becomes visible only by a rename after it is
//! synced, and old files are deleted only after that rename is synced. A
//! crash before the rename leaves a `.tmp` file (removed at startup) and the
//! old files; a crash after it leaves extra old files, which recovery skips
//! and removes.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_core::Store;
use log::{error, info};

use crate::storage::data_dir::DataDir;
use crate::storage::snapshot::write_snapshot_file;
use crate::storage::StorageStatus;

/// Wait after a failed compaction before trying again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Runs one compaction at a time in a background thread.
#[derive(Debug, Default)]
pub struct Compactor {
    thread: Option<JoinHandle<bool>>,
    retry_at: Option<Instant>,
    running: Arc<AtomicBool>,
}

impl Compactor {
    /// Whether a new compaction may start now: none is running and the
    /// last failure, if any, is old enough.
    pub fn is_idle(&mut self) -> bool {
        if self.running.load(Ordering::Acquire) {
            return false;
        }
        if let Some(thread) = self.thread.take() {
            if !thread.join().unwrap_or(false) {
                self.retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
            }
        }
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Starts compacting: snapshot the store from `start_rev` (at most the
    /// store's current revision), then delete segments and snapshots before
    /// it, subtracting their sizes from the log's size in `status`.
    pub fn start(
        &mut self,
        dir: Arc<DataDir>,
        store: Store,
        start_rev: u64,
        status: Arc<StorageStatus>,
    ) {
        self.running.store(true, Ordering::Release);
        let running = Arc::clone(&self.running);
        let spawned = std::thread::Builder::new()
            .name("kv-compaction".into())
            .spawn(move || {
                let ok = compact(&dir, &store, start_rev, &status);
                running.store(false, Ordering::Release);
                ok
            });
        match spawned {
            Ok(thread) => self.thread = Some(thread),
            Err(e) => {
                error!("cannot start a compaction thread: {e}");
                self.running.store(false, Ordering::Release);
                self.retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
            }
        }
    }

    /// Waits for a running compaction to finish.
    pub fn wait(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn compact(dir: &DataDir, store: &Store, start_rev: u64, status: &StorageStatus) -> bool {
    let began = Instant::now();
    let (path, snapshot) = match write_snapshot_file(dir, store, start_rev) {
        Ok(written) => written,
        Err(e) => {
            error!("compaction failed writing a snapshot: {e}; writes go on, retrying later");
            return false;
        }
    };
    let _guard = dir.files_guard();
    let old_segments = dir.segments().unwrap_or_default();
    let old_snapshots = dir.snapshots().unwrap_or_default();
    let segments = old_segments.iter().filter(|(first, _)| *first <= start_rev);
    let snapshots = old_snapshots.iter().filter(|(start, _)| *start < start_rev);
    let freed_log = remove_all(segments);
    let freed = freed_log + remove_all(snapshots);
    // The log's size counts segments only.
    let _ = status
        .log_bytes()
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some(b.saturating_sub(freed_log))
        });
    if let Err(e) = dir.sync() {
        error!("compaction cannot sync the data directory: {e}");
    }
    info!(
        "compacted the log into {} ({} keys, {} bytes, revisions up to {}) in {:?}; freed {freed} bytes",
        path.display(),
        snapshot.count,
        snapshot.len,
        snapshot.end_rev,
        began.elapsed()
    );
    status.record_compaction();
    true
}

/// Removes the files, returning the bytes freed.
fn remove_all<'a>(files: impl Iterator<Item = &'a (u64, std::path::PathBuf)>) -> u64 {
    let mut freed = 0;
    for (_, path) in files {
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(path) {
            Ok(()) => freed += size,
            Err(e) => error!("compaction cannot remove {}: {e}", path.display()),
        }
    }
    freed
}
