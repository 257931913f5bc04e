//! [`DurableLog`]: the commit log on disk.
//!
//! Per batch, from the writer thread: encode every change, append them with
//! one write, sync per the [`FsyncPolicy`], and only then return so the
//! pipeline applies the batch. Between batches it rotates segments and
//! starts compactions, when the store is exactly at the last batch's
//! revision.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_core::codec::encode_changes;
use kv_core::{Batch, Store, StoreWriter};
use log::{error, info};

use crate::storage::commit_log::CommitLog;
use crate::storage::compaction::Compactor;
use crate::storage::data_dir::DataDir;
use crate::storage::error::Result;
use crate::storage::fsync_policy::FsyncPolicy;
use crate::storage::recovery::recover;
use crate::storage::segment::SegmentWriter;
use crate::storage::status::StorageStatus;

/// How often `everysec` syncs.
pub const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of the durable log.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    /// When to sync.
    pub policy: FsyncPolicy,
    /// Start a new segment past this many bytes.
    pub segment_bytes: u64,
    /// Never compact a log smaller than this.
    pub compact_min_bytes: u64,
    /// Compact when the log is over this many times the live data.
    pub compact_ratio: f64,
}

/// The commit log on disk.
#[derive(Debug)]
pub struct DurableLog {
    dir: Arc<DataDir>,
    store: Store,
    settings: LogSettings,
    segment: SegmentWriter,
    /// Reused encoding buffer.
    buf: Vec<u8>,
    /// Bytes in all segments since the last snapshot (shared with `status`).
    log_bytes: Arc<AtomicU64>,
    status: Arc<StorageStatus>,
    syncer: Option<EverySecSyncer>,
    compactor: Compactor,
}

impl DurableLog {
    /// Recovers the store from `dir` into `writer` and opens the log for
    /// appending.
    ///
    /// # Errors
    ///
    /// Recovery failed (see [`recover`]).
    pub fn open(
        dir: Arc<DataDir>,
        writer: &mut StoreWriter,
        settings: LogSettings,
        status: Arc<StorageStatus>,
        repair: bool,
    ) -> Result<Self> {
        let recovered = recover(&dir, writer, repair)?;
        let store = writer.store();
        info!(
            "recovered {} keys at revision {} from {} ({}, {} log records replayed); fsync {}",
            store.len(),
            store.revision(),
            dir.path().display(),
            match recovered.snapshot {
                Some(s) => format!("snapshot of revision {}", s.start_rev),
                None => "no snapshot".into(),
            },
            recovered.replayed,
            settings.policy
        );
        let mut segment = recovered.segment;
        segment.limit_prezero(settings.segment_bytes);
        let syncer = (settings.policy == FsyncPolicy::EverySec)
            .then(|| EverySecSyncer::start(segment.file(), Arc::clone(&status)));
        Ok(Self {
            dir,
            store,
            settings,
            segment,
            buf: Vec::new(),
            log_bytes: {
                let log_bytes = Arc::clone(status.log_bytes());
                log_bytes.store(recovered.log_bytes, Ordering::Relaxed);
                log_bytes
            },
            status,
            syncer,
            compactor: Compactor::default(),
        })
    }

    /// Bytes in the log since the last snapshot.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// Rotates or compacts when due. Called before a batch is appended, when
    /// every earlier batch has been applied, so the store's revision is the
    /// last revision in the log.
    fn between_batches(&mut self) -> io::Result<()> {
        let rev = self.store.revision();
        let log_bytes = self.log_bytes();
        let threshold = (self.settings.compact_ratio * self.store.live_bytes() as f64) as u64;
        if log_bytes > self.settings.compact_min_bytes.max(threshold) && self.compactor.is_idle() {
            self.rotate(rev + 1)?;
            self.compactor.start(
                Arc::clone(&self.dir),
                self.store.clone(),
                rev,
                Arc::clone(&self.status),
            );
        } else if self.segment.len() >= self.settings.segment_bytes {
            self.rotate(rev + 1)?;
        }
        Ok(())
    }

    /// Syncs the current segment and starts a new one at `first_rev`.
    fn rotate(&mut self, first_rev: u64) -> io::Result<()> {
        if self.segment.is_empty() {
            return Ok(());
        }
        self.segment.finish()?;
        self.segment = SegmentWriter::create(&self.dir, first_rev)?;
        self.segment.limit_prezero(self.settings.segment_bytes);
        self.log_bytes
            .fetch_add(self.segment.len(), Ordering::Relaxed);
        if let Some(syncer) = &self.syncer {
            syncer.switch_to(self.segment.file());
        }
        Ok(())
    }

    fn append(&mut self, batch: &Batch) -> io::Result<()> {
        self.between_batches()?;
        self.buf.clear();
        encode_changes(&batch.changes, &mut self.buf);
        self.segment.append(&self.buf)?;
        match (self.settings.policy, &self.syncer) {
            (FsyncPolicy::Always, _) => {
                let began = Instant::now();
                self.segment.sync()?;
                self.status.record_fsync(began.elapsed());
            }
            (FsyncPolicy::EverySec, Some(syncer)) => syncer.mark_dirty(),
            _ => {}
        }
        self.log_bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl CommitLog for DurableLog {
    fn commit(&mut self, batch: &Batch) -> io::Result<()> {
        if let Some(failure) = self.status.failure() {
            return Err(io::Error::other(format!(
                "writes are refused since an earlier storage failure ({failure}); restart the server to recover"
            )));
        }
        if batch.changes.is_empty() {
            return Ok(());
        }
        self.append(batch).inspect_err(|e| {
            // A failed write or fsync is never retried as if it had
            // succeeded: the pages' state is unknown. Refuse writes until a
            // restart recovers from what is really on disk.
            error!("storage failure, refusing writes from now on: {e}");
            self.status.fail(e.to_string());
        })
    }

    fn syncs_each_batch(&self) -> bool {
        self.settings.policy == FsyncPolicy::Always
    }

    fn close(&mut self) -> io::Result<()> {
        if let Some(syncer) = self.syncer.take() {
            syncer.stop();
        }
        self.compactor.wait();
        self.segment.finish()
    }
}

/// The `everysec` background syncer.
#[derive(Debug)]
struct EverySecSyncer {
    shared: Arc<SyncerShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct SyncerShared {
    file: Mutex<Arc<File>>,
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    status: Arc<StorageStatus>,
}

impl SyncerShared {
    fn sync_if_dirty(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let file = Arc::clone(&self.file.lock().unwrap_or_else(|e| e.into_inner()));
        let began = Instant::now();
        let synced = file.sync_data();
        self.status.record_fsync(began.elapsed());
        if let Err(e) = synced {
            error!("everysec fsync failed, refusing writes from now on: {e}");
            self.status.fail(format!("fsync failed: {e}"));
        }
    }
}

impl EverySecSyncer {
    fn start(file: Arc<File>, status: Arc<StorageStatus>) -> Self {
        let shared = Arc::new(SyncerShared {
            file: Mutex::new(file),
            dirty: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            status,
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kv-fsync".into())
            .spawn(move || loop {
                let stop = worker.stop.lock().unwrap_or_else(|e| e.into_inner());
                let (stop, _) = worker
                    .wake
                    .wait_timeout(stop, EVERYSEC_INTERVAL)
                    .unwrap_or_else(|e| e.into_inner());
                let stopping = *stop;
                drop(stop);
                worker.sync_if_dirty();
                if stopping {
                    break;
                }
            });
        if let Err(e) = &thread {
            error!("cannot start the everysec syncer ({e}); syncing on rotation and shutdown only");
        }
        Self {
            shared,
            thread: thread.ok(),
        }
    }

    fn mark_dirty(&self) {
        self.shared.dirty.store(true, Ordering::Release);
    }

    /// Syncs from now on `file` (the old one was synced by the rotation).
    fn switch_to(&self, file: Arc<File>) {
        *self.shared.file.lock().unwrap_or_else(|e| e.into_inner()) = file;
    }

    fn stop(mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
