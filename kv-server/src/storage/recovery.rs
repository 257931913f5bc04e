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
    remove_covered(&mut segments, start_rev)?;
    let mut replay = Replay {
        dir,
        writer,
        repair,
        start_rev,
        next_rev: start_rev + 1,
        replayed: 0,
        kept: Vec::new(),
    };
    let mut index = 0;
    while index < segments.len() && replay.segment(&mut segments, index)? {
        index += 1;
    }
    let Replay {
        replayed, mut kept, ..
    } = replay;
    let revision = writer.store().revision();
    if let Some(s) = snapshot {
        check_snapshot_reached(dir, s, revision, repair)?;
    }
    let log_bytes = kept.iter().map(|(_, _, len)| len).sum();
    let segment = match kept.pop() {
        Some((_, path, len)) => SegmentWriter::open(&path, len)
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

/// Removes the segments wholly before the snapshot: leftovers of a
/// compaction that stopped before deleting them.
fn remove_covered(segments: &mut Vec<(u64, PathBuf)>, start_rev: u64) -> Result<()> {
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
    Ok(())
}

/// The log must reach the revision the snapshot was taken up to.
fn check_snapshot_reached(
    dir: &DataDir,
    snapshot: SnapshotInfo,
    revision: u64,
    repair: bool,
) -> Result<()> {
    if revision >= snapshot.end_rev {
        return Ok(());
    }
    let detail = format!(
        "the log ends at revision {revision} but the snapshot was taken up to revision {}",
        snapshot.end_rev
    );
    if !repair {
        return Err(corrupt(&dir.snapshot_path(snapshot.start_rev), 0, detail));
    }
    warn!("--repair: {detail}; continuing from revision {revision}");
    Ok(())
}

/// Replaying the segments, one after the other.
struct Replay<'a> {
    dir: &'a DataDir,
    writer: &'a mut StoreWriter,
    repair: bool,
    /// The snapshot's revision: records up to it are already loaded.
    start_rev: u64,
    /// The revision the next segment must start at.
    next_rev: u64,
    replayed: u64,
    /// The segments kept: first revision, path, valid length.
    kept: Vec<(u64, PathBuf, u64)>,
}

impl Replay<'_> {
    /// Replays `segments[index]`, repairing or refusing damage; whether to
    /// go on with the next one.
    fn segment(&mut self, segments: &mut Vec<(u64, PathBuf)>, index: usize) -> Result<bool> {
        let (first_rev, path) = segments[index].clone();
        if first_rev > self.next_rev {
            let detail = format!(
                "revisions {} to {} are missing",
                self.next_rev,
                first_rev - 1
            );
            if !self.repair {
                return Err(corrupt(&path, 0, detail));
            }
            warn!(
                "{}: {detail}; --repair keeps the log up to revision {}",
                path.display(),
                self.next_rev - 1
            );
            set_aside(self.dir, &segments[index..])?;
            return Ok(false);
        }
        let bytes =
            fs::read(&path).map_err(StorageError::io(format!("cannot read {}", path.display())))?;
        let mut last_rev = first_rev - 1;
        let (start_rev, writer, replayed) = (self.start_rev, &mut *self.writer, &mut self.replayed);
        let end = scan(&bytes, first_rev, |record, _| {
            last_rev = record.rev;
            if record.rev > start_rev {
                writer.replay(record);
                *replayed += 1;
            }
        });
        let is_last = index + 1 == segments.len();
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
                self.cut_damage(&path, &bytes, offset, detail, last_rev)?;
                set_aside(self.dir, &segments[index + 1..])?;
                segments.truncate(index + 1);
                offset
            }
        };
        self.keep(first_rev, path, valid_len)?;
        self.next_rev = last_rev + 1;
        Ok(true)
    }

    /// Damage at `offset`: refused, or with `repair` cut and kept in
    /// `damaged/`.
    fn cut_damage(
        &self,
        path: &Path,
        bytes: &[u8],
        offset: u64,
        detail: String,
        last_rev: u64,
    ) -> Result<()> {
        if !self.repair {
            return Err(corrupt(path, offset, detail));
        }
        let cut = &bytes[offset as usize..];
        let kept_at = self
            .dir
            .keep_damaged(path, offset, cut)
            .map_err(StorageError::io("cannot save the damaged bytes"))?;
        warn!(
            "--repair: {} damaged at byte {offset} ({detail}); kept revisions up to \
             {last_rev}, moved {} bytes to {}",
            path.display(),
            cut.len(),
            kept_at.display()
        );
        truncate(path, offset)
    }

    /// Keeps a segment of `valid_len` bytes, or removes it if it never held
    /// a record (a fresh one is made after).
    fn keep(&mut self, first_rev: u64, path: PathBuf, valid_len: u64) -> Result<()> {
        if valid_len < FILE_HEADER_LEN as u64 {
            return fs::remove_file(&path).map_err(StorageError::io(format!(
                "cannot remove {}",
                path.display()
            )));
        }
        self.kept.push((first_rev, path, valid_len));
        Ok(())
    }
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
