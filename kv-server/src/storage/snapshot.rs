//! Snapshots: every entry of the store, written while writes go on, and
//! loaded back at startup.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kv_core::codec::{
    check_file_header, decode_frame, decode_snapshot_item, encode_snapshot_begin,
    encode_snapshot_end, encode_snapshot_entry, file_header, is_snapshot_entry, Frame,
    SnapshotItem, FILE_HEADER_LEN, SNAPSHOT_MAGIC,
};
use kv_core::{Entry, Store, StoreWriter};

use crate::storage::data_dir::DataDir;
use crate::storage::error::{Result, StorageError};

/// What a snapshot covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The log is replayed from after this revision.
    pub start_rev: u64,
    /// The store revision when the copy ended: recovery must reach it.
    pub end_rev: u64,
    /// Number of entries.
    pub count: u64,
    /// Bytes the snapshot occupies.
    pub len: u64,
}

/// Encodes a snapshot to a writer, one entry at a time.
#[derive(Debug)]
pub(crate) struct SnapshotEncoder<W: Write> {
    out: W,
    buf: Vec<u8>,
    start_rev: u64,
    count: u64,
    len: u64,
}

impl<W: Write> SnapshotEncoder<W> {
    /// Bytes buffered before a write to `out`.
    const CHUNK: usize = 1 << 20;

    /// Starts a snapshot whose log replay starts after `start_rev`.
    pub fn new(out: W, start_rev: u64) -> Self {
        let mut buf = file_header(SNAPSHOT_MAGIC).to_vec();
        encode_snapshot_begin(start_rev, &mut buf);
        Self {
            out,
            buf,
            start_rev,
            count: 0,
            len: 0,
        }
    }

    /// Adds one entry.
    ///
    /// # Errors
    ///
    /// Writing to the output failed.
    pub fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        encode_snapshot_entry(entry, &mut self.buf);
        self.count += 1;
        if self.buf.len() >= Self::CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Ends the snapshot at `end_rev` and returns the output.
    ///
    /// # Errors
    ///
    /// Writing to the output failed.
    pub fn finish(mut self, end_rev: u64) -> io::Result<(W, SnapshotInfo)> {
        encode_snapshot_end(self.count, end_rev, &mut self.buf);
        self.flush_buf()?;
        self.out.flush()?;
        let info = SnapshotInfo {
            start_rev: self.start_rev,
            end_rev,
            count: self.count,
            len: self.len,
        };
        Ok((self.out, info))
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

/// Writes a snapshot of `store` to `out`. `start_rev` must be at most the
/// store's revision when this is called; the copy is fuzzy from there (see
/// [`Store::copy_shards`]) and ends at the revision current when it ends.
///
/// # Errors
///
/// Writing to `out` failed.
pub(crate) fn write_snapshot_to<W: Write>(
    out: W,
    store: &Store,
    start_rev: u64,
) -> io::Result<(W, SnapshotInfo)> {
    let mut encoder = SnapshotEncoder::new(out, start_rev);
    store.copy_shards(|entries| entries.iter().try_for_each(|entry| encoder.entry(entry)))?;
    encoder.finish(store.revision())
}

/// Writes a snapshot file for `start_rev` the crash-safe way: to a
/// temporary file, synced, renamed into place, directory synced.
///
/// # Errors
///
/// Any I/O error; the temporary file is removed.
pub fn write_snapshot_file(
    dir: &DataDir,
    store: &Store,
    start_rev: u64,
) -> io::Result<(PathBuf, SnapshotInfo)> {
    let path = dir.snapshot_path(start_rev);
    let tmp = DataDir::tmp_path(&path);
    let result = (|| {
        let (file, info) = write_snapshot_to(File::create(&tmp)?, store, start_rev)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        dir.sync()?;
        Ok(info)
    })();
    match result {
        Ok(info) => Ok((path, info)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Checks a snapshot's framing without decoding entries: header, every
/// checksum, a begin first and an end last. Returns the length of the
/// snapshot (a backup stream carries more bytes after it).
///
/// # Errors
///
/// [`StorageError::Corrupt`] naming `path` and the offset.
pub(crate) fn check_snapshot(bytes: &[u8], path: &Path) -> Result<usize> {
    let corrupt = |offset: usize, detail: String| StorageError::Corrupt {
        file: path.to_owned(),
        offset: offset as u64,
        detail,
    };
    check_file_header(bytes, SNAPSHOT_MAGIC).map_err(|e| corrupt(0, e.to_string()))?;
    let mut offset = FILE_HEADER_LEN;
    let mut first = true;
    let mut count = 0u64;
    loop {
        let Frame::Complete { payload, len } = decode_frame(&bytes[offset..]) else {
            return Err(corrupt(offset, "damaged or missing snapshot item".into()));
        };
        // Only the first and the end items are decoded here; entries are
        // counted by their kind byte.
        match is_snapshot_entry(payload) {
            true if !first => count += 1,
            _ => match decode_snapshot_item(payload).map_err(|e| corrupt(offset, e.to_string()))? {
                SnapshotItem::Begin { .. } if first => {}
                SnapshotItem::End {
                    count: expected, ..
                } if !first => {
                    if expected != count {
                        return Err(corrupt(
                            offset,
                            format!("snapshot ends after {count} entries, expected {expected}"),
                        ));
                    }
                    return Ok(offset + len);
                }
                _ => return Err(corrupt(offset, "snapshot items out of order".into())),
            },
        }
        first = false;
        offset += len;
    }
}

/// Loads a snapshot already checked by [`check_snapshot`] into the store.
///
/// # Errors
///
/// [`StorageError::Corrupt`] if an item does not decode.
pub(crate) fn load_snapshot(
    bytes: &[u8],
    path: &Path,
    writer: &mut StoreWriter,
) -> Result<SnapshotInfo> {
    let len = check_snapshot(bytes, path)?;
    let mut offset = FILE_HEADER_LEN;
    let mut info = SnapshotInfo {
        start_rev: 0,
        end_rev: 0,
        count: 0,
        len: len as u64,
    };
    while offset < len {
        let corrupt = |detail: String| StorageError::Corrupt {
            file: path.to_owned(),
            offset: offset as u64,
            detail,
        };
        let Frame::Complete { payload, len } = decode_frame(&bytes[offset..]) else {
            return Err(corrupt("damaged snapshot item".into()));
        };
        let item = decode_snapshot_item(payload).map_err(|e| corrupt(e.to_string()))?;
        match item {
            SnapshotItem::Begin { start_rev } => {
                info.start_rev = start_rev;
                writer.raise_revision(start_rev);
            }
            SnapshotItem::Entry(entry) => writer.load(entry),
            SnapshotItem::End { count, end_rev } => {
                info.count = count;
                info.end_rev = end_rev;
            }
        }
        offset += len;
    }
    Ok(info)
}
