//! [`DataDir`]: the data directory, locked for the life of the server.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use log::warn;

use crate::storage::error::{Result, StorageError};

const LOCK_FILE: &str = "LOCK";
const SEGMENT_SUFFIX: &str = ".log";
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";
const TMP_SUFFIX: &str = ".tmp";
/// Where `--repair` moves the bytes it cuts.
pub(crate) const DAMAGED_DIR: &str = "damaged";

/// An open, locked data directory.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the flock until the server exits (the OS releases it even on
    /// `kill -9`).
    _lock: File,
    /// Held while files are deleted (compaction) or read for a backup, so a
    /// backup never loses a segment under its feet.
    files: Mutex<()>,
}

impl DataDir {
    /// Creates `path` if missing and takes its lock.
    ///
    /// # Errors
    ///
    /// [`StorageError::Locked`] when another server holds it; I/O errors.
    pub fn open(path: &Path) -> Result<Self> {
        fs::create_dir_all(path).map_err(StorageError::io(format!(
            "cannot create {}",
            path.display()
        )))?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(StorageError::io(format!(
                "cannot open {}",
                lock_path.display()
            )))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(StorageError::Locked {
                    dir: path.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(StorageError::io(format!(
                    "cannot lock {}",
                    lock_path.display()
                ))(e))
            }
        }
        let holder = format!("pid {}", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(holder.as_bytes()))
            .map_err(StorageError::io(format!(
                "cannot write {}",
                lock_path.display()
            )))?;
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
            files: Mutex::new(()),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the segment whose first revision is `first_rev`.
    pub(crate) fn segment_path(&self, first_rev: u64) -> PathBuf {
        self.path.join(format!("{first_rev:020}{SEGMENT_SUFFIX}"))
    }

    /// The path of the snapshot that starts at revision `start_rev`.
    pub(crate) fn snapshot_path(&self, start_rev: u64) -> PathBuf {
        self.path
            .join(format!("{SNAPSHOT_PREFIX}{start_rev:020}{SNAPSHOT_SUFFIX}"))
    }

    /// The temporary name a file is written under before it is renamed.
    pub(crate) fn tmp_path(final_path: &Path) -> PathBuf {
        let mut name = final_path.as_os_str().to_owned();
        name.push(TMP_SUFFIX);
        PathBuf::from(name)
    }

    /// Segments as `(first_rev, path)`, oldest first.
    ///
    /// # Errors
    ///
    /// The directory cannot be read.
    pub(crate) fn segments(&self) -> Result<Vec<(u64, PathBuf)>> {
        self.list(|name| name.strip_suffix(SEGMENT_SUFFIX))
    }

    /// Snapshots as `(start_rev, path)`, oldest first.
    ///
    /// # Errors
    ///
    /// The directory cannot be read.
    pub(crate) fn snapshots(&self) -> Result<Vec<(u64, PathBuf)>> {
        self.list(|name| {
            name.strip_prefix(SNAPSHOT_PREFIX)
                .and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX))
        })
    }

    fn list(&self, number: impl Fn(&str) -> Option<&str>) -> Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        let entries = fs::read_dir(&self.path).map_err(StorageError::io(format!(
            "cannot read {}",
            self.path.display()
        )))?;
        for entry in entries {
            let entry = entry.map_err(StorageError::io(format!(
                "cannot read {}",
                self.path.display()
            )))?;
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(&number) else {
                continue;
            };
            if let Ok(n) = n.parse::<u64>() {
                found.push((n, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Deletes `*.tmp` files left by a crash during compaction.
    ///
    /// # Errors
    ///
    /// The directory cannot be read or a file cannot be removed.
    pub(crate) fn remove_leftovers(&self) -> Result<()> {
        let entries = fs::read_dir(&self.path).map_err(StorageError::io(format!(
            "cannot read {}",
            self.path.display()
        )))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == &TMP_SUFFIX[1..]) {
                warn!("removing {} left by an interrupted write", path.display());
                fs::remove_file(&path).map_err(StorageError::io(format!(
                    "cannot remove {}",
                    path.display()
                )))?;
            }
        }
        Ok(())
    }

    /// Syncs the directory itself, making creations, renames and deletions
    /// durable.
    ///
    /// # Errors
    ///
    /// The sync failed.
    pub(crate) fn sync(&self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }

    /// Holds off file deletion (or, for compaction, backups) while the guard lives.
    pub(crate) fn files_guard(&self) -> MutexGuard<'_, ()> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves `bytes` cut from `file` at `offset` into `damaged/`, synced.
    ///
    /// # Errors
    ///
    /// The copy could not be written.
    pub(crate) fn keep_damaged(
        &self,
        file: &Path,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<PathBuf> {
        let dir = self.path.join(DAMAGED_DIR);
        fs::create_dir_all(&dir)?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let target = dir.join(format!(
            "{}.from-byte-{offset}",
            name.unwrap_or_else(|| "unknown".into())
        ));
        let mut out = File::create(&target)?;
        out.write_all(bytes)?;
        out.sync_all()?;
        File::open(&dir)?.sync_all()?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_open_is_refused_with_the_holder() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(tmp.path()).expect("first open");
        let err = DataDir::open(tmp.path()).expect_err("second open");
        let message = err.to_string();
        assert!(
            message.contains(&tmp.path().display().to_string()),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        DataDir::open(tmp.path()).expect("open after release");
    }

    #[test]
    fn files_are_listed_in_revision_order() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = DataDir::open(tmp.path()).expect("open");
        for rev in [100, 1, 20] {
            File::create(dir.segment_path(rev)).expect("create");
        }
        File::create(dir.snapshot_path(7)).expect("create");
        File::create(tmp.path().join("unrelated.txt")).expect("create");
        let revs: Vec<u64> = dir
            .segments()
            .expect("list")
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(revs, vec![1, 20, 100]);
        assert_eq!(dir.snapshots().expect("list")[0].0, 7);
    }
}
