//! Recovery at startup: the newest snapshot, then the log after it.
//!
//! - A torn tail (a crash in the middle of an append) in the last segment is
//!   trimmed to the last whole record, with a warning saying how many bytes
//!   were cut.
//! - Damage anywhere else (a bad checksum with valid records after it, a
//!   gap in revisions, a foreign file) refuses to start, naming the file and
//!   offset, unless `repair` is set: then the longest valid prefix is kept
//!   and everything after it is moved to `damaged/`, never deleted.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use kv_core::codec::FILE_HEADER_LEN;
use kv_core::StoreWriter;
use log::{info, warn};

use crate::storage::data_dir::{DataDir, DAMAGED_DIR};
use crate::storage::error::{Result, StorageError};
use crate::storage::segment::{scan, ScanEnd, SegmentWriter};
use crate::storage::snapshot::{load_snapshot, SnapshotInfo};

/// What recovery found and left ready for writing.
#[derive(Debug)]
pub struct Recovered {
    /// The segment to append to.
    pub segment: SegmentWriter,
    /// Bytes in the segments kept (what compaction would reclaim).
    pub log_bytes: u64,
    /// The snapshot loaded, if any.
    pub snapshot: Option<SnapshotInfo>,
    /// Log records replayed over it.
    pub replayed: u64,
}

/// Loads the newest snapshot and replays the log into `writer`.
///
/// # Errors
///
/// [`StorageError::Corrupt`] for damage that needs `repair`; I/O errors.
pub fn recover(dir: &DataDir, writer: &mut StoreWriter, repair: bool) -> Result<Recovered> {
    dir.remove_leftovers()?;
    let snapshot = load_newest_snapshot(dir, writer, repair)?;
    let start_rev = snapshot.map_or(0, |s| s.start_rev);

    let mut segments = dir.segments()?;
    // Segments wholly before the snapshot are leftovers of a compaction
    // that stopped before deleting them.
    while segments.len() > 1 && segments[1].0 <= start_rev + 1 {
        let (_, path) = segments.remove(0);
        info!(
            "removing {}, already covered by the snapshot",
            path.display()
        );
        fs::remove_file(&path).map_err(StorageError::io(format!(
            "cannot remove {}",
            path.display()
        )))?;
    }

    let mut replayed = 0u64;
    let mut next_rev = start_rev + 1;
    let mut kept: Vec<(u64, PathBuf, u64)> = Vec::new();
    let mut index = 0;
    while index < segments.len() {
        let (first_rev, path) = segments[index].clone();
        let is_last = index + 1 == segments.len();
        if first_rev > next_rev {
            let detail = format!("revisions {next_rev} to {} are missing", first_rev - 1);
            if !repair {
                return Err(corrupt(&path, 0, detail));
            }
            warn!(
                "{}: {detail}; --repair keeps the log up to revision {}",
                path.display(),
                next_rev - 1
            );
            set_aside(dir, &segments[index..])?;
            break;
        }
        let bytes =
            fs::read(&path).map_err(StorageError::io(format!("cannot read {}", path.display())))?;
        let mut last_rev = first_rev - 1;
        let end = scan(&bytes, first_rev, |record, _| {
            last_rev = record.rev;
            if record.rev > start_rev {
                writer.replay(record);
                replayed += 1;
            }
        });
        let valid_len = match end {
            ScanEnd::Clean => bytes.len() as u64,
            ScanEnd::ZeroTail { valid_len } => {
                // The zero-filled space ahead of the last write: no data.
                truncate(&path, valid_len)?;
                valid_len
            }
            ScanEnd::Torn { valid_len } if is_last => {
                warn!(
                    "{}: cut {} bytes of a torn write at the end (a crash during an append); \
                     the log ends at revision {last_rev}",
                    path.display(),
                    bytes.len() as u64 - valid_len
                );
                truncate(&path, valid_len)?;
                valid_len
            }
            ScanEnd::Torn { valid_len: offset } | ScanEnd::Corrupt { offset, .. } => {
                let detail = match end {
                    ScanEnd::Corrupt { detail, .. } => detail,
                    _ => "a torn record in a segment that is not the last".into(),
                };
                if !repair {
                    return Err(corrupt(&path, offset, detail));
                }
                let cut = &bytes[offset as usize..];
                let kept_at = dir
                    .keep_damaged(&path, offset, cut)
                    .map_err(StorageError::io("cannot save the damaged bytes"))?;
                warn!(
                    "--repair: {} damaged at byte {offset} ({detail}); kept revisions up to \
                     {last_rev}, moved {} bytes to {}",
                    path.display(),
                    cut.len(),
                    kept_at.display()
                );
                truncate(&path, offset)?;
                set_aside(dir, &segments[index + 1..])?;
                segments.truncate(index + 1);
                offset
            }
        };
        if valid_len < FILE_HEADER_LEN as u64 {
            // Never held a record: drop it; a fresh segment is made below.
            fs::remove_file(&path).map_err(StorageError::io(format!(
                "cannot remove {}",
                path.display()
            )))?;
        } else {
            kept.push((first_rev, path, valid_len));
        }
        next_rev = last_rev + 1;
        index += 1;
    }

    let revision = writer.store().revision();
    if let Some(s) = snapshot {
        if revision < s.end_rev {
            let detail = format!(
                "the log ends at revision {revision} but the snapshot was taken up to revision {}",
                s.end_rev
            );
            if !repair {
                return Err(corrupt(&dir.snapshot_path(s.start_rev), 0, detail));
            }
            warn!("--repair: {detail}; continuing from revision {revision}");
        }
    }
    let log_bytes = kept.iter().map(|(_, _, len)| len).sum();
    let segment = match kept.pop() {
        Some((first_rev, path, len)) => SegmentWriter::open(&path, first_rev, len)
            .map_err(StorageError::io(format!("cannot open {}", path.display())))?,
        None => SegmentWriter::create(dir, revision + 1)
            .map_err(StorageError::io("cannot create a log segment"))?,
    };
    Ok(Recovered {
        segment,
        log_bytes,
        snapshot,
        replayed,
    })
}

fn load_newest_snapshot(
    dir: &DataDir,
    writer: &mut StoreWriter,
    repair: bool,
) -> Result<Option<SnapshotInfo>> {
    let snapshots = dir.snapshots()?;
    for (index, (_, path)) in snapshots.iter().enumerate().rev() {
        let bytes =
            fs::read(path).map_err(StorageError::io(format!("cannot read {}", path.display())))?;
        match load_snapshot(&bytes, path, writer) {
            Ok(info) => {
                for (_, older) in &snapshots[..index] {
                    info!("removing {}, replaced by a newer snapshot", older.display());
                    let _ = fs::remove_file(older);
                }
                return Ok(Some(info));
            }
            Err(e @ StorageError::Corrupt { .. }) if repair => {
                warn!("--repair: {e}; moving it to {DAMAGED_DIR}/ and trying an older one");
                set_aside(dir, &snapshots[index..=index])?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn corrupt(path: &Path, offset: u64, detail: String) -> StorageError {
    StorageError::Corrupt {
        file: path.to_owned(),
        offset,
        detail,
    }
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let context = || format!("cannot truncate {}", path.display());
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(StorageError::io(context()))?;
    file.set_len(len).map_err(StorageError::io(context()))?;
    file.sync_all().map_err(StorageError::io(context()))
}

/// Moves whole files into `damaged/`.
fn set_aside(dir: &DataDir, files: &[(u64, PathBuf)]) -> Result<()> {
    let damaged = dir.path().join(DAMAGED_DIR);
    fs::create_dir_all(&damaged).map_err(StorageError::io(format!(
        "cannot create {}",
        damaged.display()
    )))?;
    for (_, path) in files {
        let target = damaged.join(path.file_name().unwrap_or_default());
        warn!(
            "--repair: moving {} to {}",
            path.display(),
            target.display()
        );
        fs::rename(path, &target)
            .map_err(StorageError::io(format!("cannot move {}", path.display())))?;
    }
    dir.sync()
        .map_err(StorageError::io("cannot sync the data directory"))
}
