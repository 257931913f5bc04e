//! Log segments: appending records, and scanning a segment's bytes back.
//!
//! The active segment is zero-filled ahead of the write position, a few
//! MiB at a time. Writing into blocks that already exist leaves the file's
//! size and extents alone, so an fdatasync has only data to flush, not the
//! filesystem's metadata journal: measured here, 0.105 ms per sync instead
//! of 0.16 ms. The zeros are cut off when the segment is finished, and
//! recovery treats an all-zero tail as the end of the log, not as damage.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
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
    /// Bytes of header and records.
    len: u64,
    /// The file's size: zeros from `len` up to here.
    zeroed_to: u64,
    /// How far ahead to zero-fill; 0 after a fill failed (a nearly full
    /// disk keeps taking the records that fit).
    prezero: u64,
}

/// How far ahead of the write position the file is zero-filled, at most.
pub(crate) const PREZERO_BYTES: u64 = 4 * 1024 * 1024;
/// Zeros written per call while filling.
static ZERO_CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];

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
            len: FILE_HEADER_LEN as u64,
            zeroed_to: FILE_HEADER_LEN as u64,
            prezero: PREZERO_BYTES,
        })
    }

    /// Opens an existing segment, already checked and trimmed by recovery to
    /// `len` valid bytes, for appending.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub(crate) fn open(path: &Path, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new().write(true).open(path)?;
        let zeroed_to = file.metadata()?.len().max(len);
        Ok(Self {
            file: Arc::new(file),
            path: path.to_owned(),
            len,
            zeroed_to,
            prezero: PREZERO_BYTES,
        })
    }

    /// Appends encoded records with one write (after zero-filling ahead
    /// when the write position nears the end of the filled part).
    ///
    /// # Errors
    ///
    /// The write failed; the segment may then end in a partial record,
    /// which recovery trims.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let end = self.len + bytes.len() as u64;
        if end > self.zeroed_to && self.prezero > 0 {
            self.zero_fill(end + self.prezero);
        }
        self.file.write_all_at(bytes, self.len)?;
        self.len = end;
        self.zeroed_to = self.zeroed_to.max(end);
        Ok(())
    }

    /// Zero-fills up to `to`. A failure (such as a full disk) is not an
    /// error: the partial fill is undone and this segment stops filling
    /// ahead, so every record that fits is still written.
    fn zero_fill(&mut self, to: u64) {
        let mut at = self.zeroed_to.max(self.len);
        while at < to {
            let n = (to - at).min(ZERO_CHUNK.len() as u64) as usize;
            if let Err(e) = self.file.write_all_at(&ZERO_CHUNK[..n], at) {
                log::warn!(
                    "{}: cannot fill ahead ({e}); appending without it",
                    self.path.display()
                );
                let _ = self.file.set_len(self.zeroed_to.max(self.len));
                self.prezero = 0;
                return;
            }
            at += n as u64;
        }
        self.zeroed_to = to;
    }

    /// Fills at most `bytes` ahead of the write position (the segment size
    /// caps it, so small segments stay small on disk).
    pub(crate) fn limit_prezero(&mut self, bytes: u64) {
        self.prezero = self.prezero.min(bytes);
    }

    /// Cuts the zero-filled tail off and syncs: the segment is complete.
    ///
    /// # Errors
    ///
    /// The truncation or the sync failed.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.zeroed_to > self.len {
            self.file.set_len(self.len)?;
            self.zeroed_to = self.len;
        }
        self.file.sync_all()
    }

    /// Syncs the segment's data (fdatasync).
    ///
    /// # Errors
    ///
    /// The sync failed: the data since the last good sync may not be on disk.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// A shared handle on the file, for a background syncer.
    pub(crate) fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no record yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.len <= FILE_HEADER_LEN as u64
    }
}

/// How a scan of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte belongs to a valid record.
    Clean,
    /// Valid records, then only zeros: the zero-filled space ahead of the
    /// write position.
    ZeroTail {
        /// Bytes of header and records.
        valid_len: u64,
    },
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
pub(crate) fn scan(
    bytes: &[u8],
    first_rev: u64,
    mut visit: impl FnMut(LogRecord, &[u8]),
) -> ScanEnd {
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
        if rest.iter().all(|&b| b == 0) {
            return ScanEnd::ZeroTail {
                valid_len: offset as u64,
            };
        }
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
    fn a_zero_filled_tail_is_the_end_not_damage() {
        let mut bytes = segment(1..=3);
        let valid_len = bytes.len() as u64;
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        assert_eq!(
            revs(&bytes, 1),
            (vec![1, 2, 3], ScanEnd::ZeroTail { valid_len })
        );
        // A record torn inside the zero-filled space is still a torn tail.
        let mut torn = segment(1..=4);
        let cut = torn.len() - 5;
        torn.truncate(cut);
        torn.extend(std::iter::repeat_n(0u8, 4096));
        let (seen, end) = revs(&torn, 1);
        assert_eq!(seen, vec![1, 2, 3]);
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
