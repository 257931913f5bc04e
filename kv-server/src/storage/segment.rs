//! Log segments: appending records, and scanning a segment's bytes back.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kv_core::codec::{
    check_file_header, decode_frame, decode_log_record, file_header, Frame, LogRecord,
    FILE_HEADER_LEN, SEGMENT_MAGIC,
};

use crate::storage::data_dir::DataDir;

/// The segment the writer appends to.
#[derive(Debug)]
pub struct SegmentWriter {
    file: Arc<File>,
    path: PathBuf,
    first_rev: u64,
    len: u64,
}

impl SegmentWriter {
    /// Creates a new, empty segment for revisions from `first_rev`, with its
    /// header synced and the directory entry synced.
    ///
    /// # Errors
    ///
    /// Creating, writing or syncing failed.
    pub fn create(dir: &DataDir, first_rev: u64) -> io::Result<Self> {
        let path = dir.segment_path(first_rev);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        file.write_all(&file_header(SEGMENT_MAGIC))?;
        file.sync_data()?;
        dir.sync()?;
        Ok(Self {
            file: Arc::new(file),
            path,
            first_rev,
            len: FILE_HEADER_LEN as u64,
        })
    }

    /// Opens an existing segment, already checked and trimmed by recovery to
    /// `len` valid bytes, for appending.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub fn open(path: &Path, first_rev: u64, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Self {
            file: Arc::new(file),
            path: path.to_owned(),
            first_rev,
            len,
        })
    }

    /// Appends encoded records with one write.
    ///
    /// # Errors
    ///
    /// The write failed; the segment may then end in a partial record,
    /// which recovery trims.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        (&*self.file).write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Syncs the segment's data (fdatasync).
    ///
    /// # Errors
    ///
    /// The sync failed: the data since the last good sync may not be on disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// A shared handle on the file, for a background syncer.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first revision this segment holds (or will hold).
    pub fn first_rev(&self) -> u64 {
        self.first_rev
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no record yet.
    pub fn is_empty(&self) -> bool {
        self.len <= FILE_HEADER_LEN as u64
    }
}

/// How a scan of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// The segment ends in an incomplete or garbled record with nothing
    /// valid after it: what a crash in the middle of an append leaves.
    Torn {
        /// Bytes before the damage (the length to truncate to).
        valid_len: u64,
    },
    /// A bad record with valid data after it, a bad header, or revisions
    /// out of order: damage, not a crash.
    Corrupt {
        /// Offset of the first bad byte.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
}

/// Scans a segment's bytes, calling `visit(record, frame_bytes)` for each
/// valid record in order. Revisions must run from `first_rev` up by one.
pub fn scan(bytes: &[u8], first_rev: u64, mut visit: impl FnMut(LogRecord, &[u8])) -> ScanEnd {
    if bytes.len() < FILE_HEADER_LEN {
        // A crash right after the file was created, before its header was
        // synced: it never held a record.
        return ScanEnd::Torn { valid_len: 0 };
    }
    if let Err(e) = check_file_header(&bytes[..FILE_HEADER_LEN], SEGMENT_MAGIC) {
        return ScanEnd::Corrupt {
            offset: 0,
            detail: e.to_string(),
        };
    }
    let mut offset = FILE_HEADER_LEN;
    let mut expected = first_rev;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let problem = match decode_frame(rest) {
            Frame::Complete { payload, len } => match decode_log_record(payload) {
                Ok(record) if record.rev == expected => {
                    expected += 1;
                    visit(record, &rest[..len]);
                    offset += len;
                    continue;
                }
                Ok(record) => {
                    return ScanEnd::Corrupt {
                        offset: offset as u64,
                        detail: format!("record has revision {}, expected {expected}", record.rev),
                    }
                }
                Err(e) => {
                    return ScanEnd::Corrupt {
                        offset: offset as u64,
                        detail: e.to_string(),
                    }
                }
            },
            Frame::Incomplete => "incomplete record",
            Frame::Corrupt => "checksum mismatch",
        };
        return if valid_record_after(bytes, offset + 1) {
            ScanEnd::Corrupt {
                offset: offset as u64,
                detail: format!("{problem}, with valid records after it"),
            }
        } else {
            ScanEnd::Torn {
                valid_len: offset as u64,
            }
        };
    }
    ScanEnd::Clean
}

/// Whether a valid record starts at any offset from `from` on. Only run
/// after damage was found, to tell a torn tail from damage mid-file.
fn valid_record_after(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len()).any(|at| match decode_frame(&bytes[at..]) {
        Frame::Complete { payload, .. } => decode_log_record(payload).is_ok(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_core::codec::encode_changes;
    use kv_core::{Change, ChangeKind};

    fn segment(revs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        let mut bytes = file_header(SEGMENT_MAGIC).to_vec();
        let changes: Vec<Change> = revs
            .map(|rev| Change {
                rev,
                key: format!("key-{rev}").into(),
                kind: ChangeKind::Remove,
                prev: None,
            })
            .collect();
        encode_changes(&changes, &mut bytes);
        bytes
    }

    fn revs(bytes: &[u8], first: u64) -> (Vec<u64>, ScanEnd) {
        let mut seen = Vec::new();
        let end = scan(bytes, first, |r, _| seen.push(r.rev));
        (seen, end)
    }

    #[test]
    fn a_clean_segment_scans_clean() {
        let bytes = segment(5..=9);
        assert_eq!(revs(&bytes, 5), (vec![5, 6, 7, 8, 9], ScanEnd::Clean));
    }

    #[test]
    fn every_truncation_is_a_torn_tail_at_a_record_boundary() {
        let bytes = segment(1..=4);
        let (_, full) = revs(&bytes, 1);
        assert_eq!(full, ScanEnd::Clean);
        for cut in FILE_HEADER_LEN..bytes.len() {
            let (seen, end) = revs(&bytes[..cut], 1);
            let valid_len = match end {
                ScanEnd::Clean => cut as u64,
                ScanEnd::Torn { valid_len } => valid_len,
                other => panic!("cut at {cut}: {other:?}"),
            };
            assert!(valid_len <= cut as u64);
            let (again, end) = revs(&bytes[..valid_len as usize], 1);
            assert_eq!((again, end), (seen, ScanEnd::Clean));
        }
    }

    #[test]
    fn a_flipped_bit_mid_segment_is_corruption() {
        let bytes = segment(1..=4);
        let mut damaged = bytes.clone();
        damaged[FILE_HEADER_LEN + 10] ^= 0x10;
        let (seen, end) = revs(&damaged, 1);
        assert!(seen.is_empty());
        assert!(
            matches!(end, ScanEnd::Corrupt { offset, .. } if offset == FILE_HEADER_LEN as u64),
            "{end:?}"
        );
    }

    #[test]
    fn a_garbled_last_record_is_a_torn_tail() {
        let mut bytes = segment(1..=3);
        let len = bytes.len();
        bytes[len - 2] ^= 0xff;
        let (seen, end) = revs(&bytes, 1);
        assert_eq!(seen, vec![1, 2]);
        assert!(matches!(end, ScanEnd::Torn { .. }), "{end:?}");
    }

    #[test]
    fn a_gap_in_revisions_is_corruption() {
        let bytes = segment(1..=3);
        let (_, end) = revs(&bytes, 2);
        assert!(matches!(end, ScanEnd::Corrupt { .. }), "{end:?}");
    }

    #[test]
    fn a_foreign_file_is_corruption() {
        let (_, end) = revs(b"definitely not a kv-store segment", 1);
        assert!(matches!(end, ScanEnd::Corrupt { offset: 0, .. }), "{end:?}");
    }
}
