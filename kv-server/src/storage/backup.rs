//! Backups: a consistent copy of the store as a snapshot stream, and
//! restoring a data directory from one.
//!
//! A backup is exactly a snapshot file whose start and end revisions are
//! equal: it was copied while the writer was paused, so it needs no log.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use kv_core::{Entry, Limits, Store};

use crate::storage::data_dir::DataDir;
use crate::storage::error::{Result, StorageError};
use crate::storage::recovery::recover;
use crate::storage::segment::SegmentWriter;
use crate::storage::snapshot::{load_snapshot, SnapshotEncoder, SnapshotInfo};

/// Every entry of the store at one revision.
#[derive(Debug)]
pub(crate) struct ConsistentCopy {
    /// The revision of the copy.
    pub rev: u64,
    /// The entries, in no particular order.
    pub entries: Vec<Entry>,
}

/// Copies the store. Consistent only while no write is applied meanwhile:
/// run it through [`CommitPipeline::exclusive`](crate::CommitPipeline::exclusive).
pub(crate) fn copy_consistent(store: &Store) -> ConsistentCopy {
    let mut entries = Vec::with_capacity(store.len());
    store
        .copy_shards(|shard| {
            entries.extend(shard);
            Ok::<(), ()>(())
        })
        .unwrap_or_default();
    ConsistentCopy {
        rev: store.revision(),
        entries,
    }
}

/// Writes `copy` as a snapshot stream to `out`.
///
/// # Errors
///
/// Writing to `out` failed.
pub(crate) fn encode_backup<W: Write>(copy: &ConsistentCopy, out: W) -> io::Result<SnapshotInfo> {
    let mut encoder = SnapshotEncoder::new(out, copy.rev);
    for entry in &copy.entries {
        encoder.entry(entry)?;
    }
    encoder.finish(copy.rev).map(|(_, info)| info)
}

/// Builds a data directory at `data_dir` from the backup file `from`, then
/// opens it as the server would, to prove it recovers.
///
/// # Errors
///
/// [`StorageError::NotEmpty`] if `data_dir` holds anything;
/// [`StorageError::InvalidBackup`] if `from` is not a whole backup.
pub fn restore(from: &Path, data_dir: &Path) -> Result<SnapshotInfo> {
    if fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StorageError::NotEmpty {
            dir: data_dir.to_owned(),
        });
    }
    let bytes =
        fs::read(from).map_err(StorageError::io(format!("cannot read {}", from.display())))?;
    let invalid = |detail: String| StorageError::InvalidBackup {
        file: from.to_owned(),
        detail,
    };
    let (_, mut scratch) = Store::new(1, Limits::default()).map_err(|e| invalid(e.to_string()))?;
    let info = load_snapshot(&bytes, from, &mut scratch).map_err(|e| match e {
        // Not the server's advice (--repair): a backup is not repaired.
        StorageError::Corrupt { offset, detail, .. } => {
            invalid(format!("damaged at byte {offset}: {detail}"))
        }
        other => invalid(other.to_string()),
    })?;
    if info.len != bytes.len() as u64 {
        return Err(invalid(format!(
            "{} bytes after the end of the snapshot",
            bytes.len() as u64 - info.len
        )));
    }
    let dir = DataDir::open(data_dir)?;
    let path = dir.snapshot_path(info.start_rev);
    let tmp = DataDir::tmp_path(&path);
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        dir.sync()?;
        SegmentWriter::create(&dir, info.end_rev + 1).map(drop)
    };
    write().map_err(StorageError::io(format!("cannot write {}", path.display())))?;
    // Prove the directory opens.
    let (store, mut writer) =
        Store::new(1, Limits::default()).map_err(|e| invalid(e.to_string()))?;
    recover(&dir, &mut writer, false)?;
    if store.revision() != info.end_rev || store.len() as u64 != info.count {
        return Err(invalid(format!(
            "restored {} keys at revision {}, expected {} at {}",
            store.len(),
            store.revision(),
            info.count,
            info.end_rev
        )));
    }
    Ok(info)
}
