//! Replica snapshots: the whole state at one log sequence.
//!
//! Each replica writes one to its data directory every
//! `--cluster-snapshot-every` messages (and when it stops), and replays the
//! log from there when it starts. A replica also uploads its snapshot to
//! the shared [`SnapshotStore`] when the one held there is a whole interval
//! older, so that a replica with an empty data directory can join; the log
//! is then trimmed, keeping one interval of messages below what the shared
//! snapshot covers (so that a replica a little behind still catches up
//! from the log).
//!
//! A snapshot is the same file as a backup (one revision, no log), in
//! `cluster-snapshot-<seq>.kvs`, described by `cluster-snapshot.json`
//! ([`SnapshotMeta`], written after the file it names): which stream,
//! which sequence and revision, the log time reached, and the state's
//! digest, checked when the snapshot is loaded.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kv_core::{Store, StoreWriter};
use kv_pubsub::replicated::{LogBounds, ReplicatedLog, SnapshotStore};
use log::{info, warn};
use serde::{Deserialize, Serialize};

use crate::storage::backup::{copy_consistent, encode_backup, ConsistentCopy};
use crate::storage::snapshot::load_snapshot;
use crate::storage::{DataDir, StorageError};

/// The file describing the newest local snapshot.
pub const META_FILE: &str = "cluster-snapshot.json";

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The stream whose messages it applied.
    pub stream: String,
    /// The last message applied.
    pub seq: u64,
    /// The store revision then.
    pub rev: u64,
    /// The log time reached (expiry never goes back behind it).
    pub time_ms: u64,
    /// The state's digest at `rev`, in hex.
    pub digest: String,
    /// Entries held.
    pub entries: u64,
}

/// The digest as `/v1/status` and snapshots write it.
pub fn digest_hex(digest: u64) -> String {
    format!("{digest:016x}")
}

fn snapshot_file(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("cluster-snapshot-{seq:020}.kvs"))
}

/// The newest local snapshot's description, if any.
///
/// # Errors
///
/// The description cannot be read, or it belongs to another stream.
pub fn local_meta(dir: &DataDir, stream: &str) -> Result<Option<SnapshotMeta>, StorageError> {
    let path = dir.path().join(META_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StorageError::io(format!("cannot read {}", path.display()))(
                e,
            ))
        }
    };
    let meta: SnapshotMeta = serde_json::from_str(&text)
        .map_err(|e| StorageError::Config(format!("{} is damaged: {e}", path.display())))?;
    if meta.stream != stream {
        return Err(StorageError::Config(format!(
            "{} holds a replica of stream {:?}, not {stream:?}: give this server another \
             --data-dir or --cluster-stream",
            dir.path().display(),
            meta.stream
        )));
    }
    Ok(Some(meta))
}

/// Loads a snapshot's bytes into `writer` and checks them against `meta`.
///
/// # Errors
///
/// The bytes are damaged or do not give the state `meta` describes.
pub fn load(
    bytes: &[u8],
    origin: &Path,
    meta: &SnapshotMeta,
    writer: &mut StoreWriter,
) -> Result<(), StorageError> {
    let info = load_snapshot(bytes, origin, writer)?;
    writer.raise_revision(info.end_rev);
    let summary = writer.store().summary();
    if info.end_rev != meta.rev
        || summary.rev != meta.rev
        || digest_hex(summary.digest) != meta.digest
    {
        return Err(StorageError::Config(format!(
            "{}: the snapshot gives revision {} and digest {}, its description says {} and {}",
            origin.display(),
            summary.rev,
            digest_hex(summary.digest),
            meta.rev,
            meta.digest
        )));
    }
    Ok(())
}

/// Loads the local snapshot `meta` describes.
///
/// # Errors
///
/// As [`load`], or the file cannot be read.
pub fn load_local(
    dir: &DataDir,
    meta: &SnapshotMeta,
    writer: &mut StoreWriter,
) -> Result<(), StorageError> {
    let path = snapshot_file(dir.path(), meta.seq);
    let bytes =
        fs::read(&path).map_err(StorageError::io(format!("cannot read {}", path.display())))?;
    load(&bytes, &path, meta, writer)
}

/// Writes `copy` as the local snapshot `meta` describes (file, then
/// description, each synced and renamed into place), and removes older
/// snapshot files.
///
/// # Errors
///
/// Any I/O error.
pub fn save_local(
    dir: &DataDir,
    meta: &SnapshotMeta,
    copy: &ConsistentCopy,
) -> io::Result<PathBuf> {
    let path = snapshot_file(dir.path(), meta.seq);
    let tmp = DataDir::tmp_path(&path);
    let mut out = BufWriter::new(File::create(&tmp)?);
    encode_backup(copy, &mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    write_meta(dir, meta)?;
    for entry in fs::read_dir(dir.path())? {
        let old = entry?.path();
        let name = old.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("cluster-snapshot-") && name.ends_with(".kvs") && old != path {
            let _ = fs::remove_file(&old);
        }
    }
    Ok(path)
}

fn write_meta(dir: &DataDir, meta: &SnapshotMeta) -> io::Result<()> {
    let path = dir.path().join(META_FILE);
    let tmp = DataDir::tmp_path(&path);
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(meta).map_err(io::Error::other)?)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    dir.sync()
}

/// Downloads the shared snapshot into `dir` (when there is one) and returns
/// its description and bytes.
///
/// # Errors
///
/// The store cannot be reached, or the download is damaged.
pub fn download_shared(
    shared: &dyn SnapshotStore,
    dir: Option<&DataDir>,
) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
    let unavailable = |e: kv_pubsub::replicated::LogError| StorageError::Config(e.to_string());
    let Some((description, mut data)) = shared.download().map_err(unavailable)? else {
        return Ok(None);
    };
    let meta: SnapshotMeta = serde_json::from_str(&description).map_err(|e| {
        StorageError::Config(format!("the shared snapshot's description is damaged: {e}"))
    })?;
    let mut bytes = Vec::new();
    data.read_to_end(&mut bytes).map_err(StorageError::io(
        "cannot download the shared snapshot".to_owned(),
    ))?;
    if let Some(dir) = dir {
        let path = snapshot_file(dir.path(), meta.seq);
        fs::write(&path, &bytes)
            .and_then(|()| File::open(&path)?.sync_all())
            .and_then(|()| write_meta(dir, &meta))
            .map_err(StorageError::io(format!("cannot write {}", path.display())))?;
    }
    Ok(Some((meta, bytes)))
}

/// Whether a replica whose state covers the log up to `seq` can go on
/// from the log: the next message it needs is still there.
pub fn log_covers(bounds: LogBounds, seq: u64) -> bool {
    seq + 1 >= bounds.first_seq
}

/// When and where the applier's snapshots go.
#[derive(Debug)]
pub struct Snapshotter {
    /// The data directory; `None` with `--in-memory`.
    pub dir: Option<Arc<DataDir>>,
    /// The shared snapshot.
    pub shared: Arc<dyn SnapshotStore>,
    /// The log, to trim.
    pub log: Arc<dyn ReplicatedLog>,
    /// The stream's name, for the descriptions.
    pub stream: String,
    /// Messages between snapshots.
    pub every: u64,
    /// The sequence of the last snapshot taken.
    pub last_seq: u64,
    /// A snapshot is being written or uploaded.
    pub busy: Arc<AtomicBool>,
}

impl Snapshotter {
    /// After applying message `seq`: starts a snapshot in the background
    /// when one is due and none is under way.
    pub fn after_apply(&mut self, store: &Store, seq: u64, time_ms: u64) {
        if seq < self.last_seq + self.every || self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last_seq = seq;
        let (meta, copy) = self.copy(store, seq, time_ms);
        let job = SnapshotJob {
            dir: self.dir.clone(),
            shared: Arc::clone(&self.shared),
            log: Arc::clone(&self.log),
            every: self.every,
            busy: Arc::clone(&self.busy),
        };
        let started = std::thread::Builder::new()
            .name("kv-snapshot".into())
            .spawn(move || job.run(&meta, &copy));
        if let Err(e) = started {
            warn!("cannot start a snapshot thread: {e}");
            self.busy.store(false, Ordering::Release);
        }
    }

    /// When stopping: writes the local snapshot at `seq` if it is newer
    /// than the last (nothing is uploaded).
    pub fn on_stop(&mut self, store: &Store, seq: u64, time_ms: u64) {
        let Some(dir) = &self.dir else {
            return;
        };
        if seq <= self.last_seq {
            return;
        }
        let (meta, copy) = self.copy(store, seq, time_ms);
        match save_local(dir, &meta, &copy) {
            Ok(_) => info!(
                "snapshot at log sequence {seq} (revision {}) written",
                meta.rev
            ),
            Err(e) => warn!("snapshot at log sequence {seq} not written: {e}"),
        }
    }

    fn copy(&self, store: &Store, seq: u64, time_ms: u64) -> (SnapshotMeta, ConsistentCopy) {
        let copy = copy_consistent(store);
        let summary = store.summary();
        let meta = SnapshotMeta {
            stream: self.stream.clone(),
            seq,
            rev: copy.rev,
            time_ms,
            digest: digest_hex(summary.digest),
            entries: copy.entries.len() as u64,
        };
        (meta, copy)
    }
}

/// A snapshot being written, shared and used to trim, off the applier.
struct SnapshotJob {
    dir: Option<Arc<DataDir>>,
    shared: Arc<dyn SnapshotStore>,
    log: Arc<dyn ReplicatedLog>,
    every: u64,
    busy: Arc<AtomicBool>,
}

impl SnapshotJob {
    fn run(self, meta: &SnapshotMeta, copy: &ConsistentCopy) {
        if let Err(e) = self.write_and_share(meta, copy) {
            warn!("snapshot at log sequence {}: {e}", meta.seq);
        }
        self.busy.store(false, Ordering::Release);
    }

    fn write_and_share(&self, meta: &SnapshotMeta, copy: &ConsistentCopy) -> io::Result<()> {
        let local = match &self.dir {
            Some(dir) => Some(save_local(dir, meta, copy)?),
            None => None,
        };
        let shared_seq = |store: &dyn SnapshotStore| {
            store
                .newest()
                .map_err(io::Error::other)
                .map(|d| d.and_then(|d| serde_json::from_str::<SnapshotMeta>(&d).ok()))
                .map(|m| m.map(|m| m.seq))
        };
        if shared_seq(self.shared.as_ref())?.is_none_or(|s| s + self.every <= meta.seq) {
            let description = serde_json::to_string(meta).map_err(io::Error::other)?;
            match &local {
                Some(path) => self
                    .shared
                    .upload(&description, &mut File::open(path)?)
                    .map_err(io::Error::other)?,
                None => {
                    let mut bytes = Vec::new();
                    encode_backup(copy, &mut bytes)?;
                    self.shared
                        .upload(&description, &mut bytes.as_slice())
                        .map_err(io::Error::other)?;
                }
            }
            info!("shared snapshot at log sequence {} uploaded", meta.seq);
        }
        // Trim below what the snapshot held now covers, keeping one interval.
        if let Some(covered) = shared_seq(self.shared.as_ref())? {
            let keep_from = (covered + 1).saturating_sub(self.every);
            let bounds = self.log.bounds().map_err(io::Error::other)?;
            if keep_from > bounds.first_seq {
                self.log.trim_before(keep_from).map_err(io::Error::other)?;
                info!("log trimmed before sequence {keep_from}");
            }
        }
        Ok(())
    }
}
