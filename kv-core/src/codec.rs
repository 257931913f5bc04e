//! The on-disk formats, as pure functions over byte slices: file headers,
//! checksummed frames, log records and snapshot items. The server does the
//! file I/O; everything that decides what the bytes mean is here, where it
//! is unit-tested without a disk.
//!
//! # Formats (all integers little-endian)
//!
//! - File header, 16 bytes: an 8-byte magic ([`SEGMENT_MAGIC`] or
//!   [`SNAPSHOT_MAGIC`]), `u32` format version ([`FORMAT_VERSION`]), `u32`
//!   reserved (zero).
//! - Frame: `u32` payload length, `u32` CRC32C of the payload, the payload.
//! - Log record (one frame per revision): `u64 rev`, `u32` op count, then
//!   per op a `u8` kind (1 put, 2 remove), `u32` key length, the key; a put
//!   adds `u64 create_rev`, `u64 version`, `u32` value length, the value,
//!   the content type as `u32` length and bytes (empty: none), and `u64`
//!   expiry in milliseconds since the epoch (0: never).
//!   `mod_rev` is the record's `rev`. Several ops share a revision when a
//!   transaction commits them together.
//! - Snapshot item (one frame each): a `u8` kind, then for a begin (1)
//!   `u64 start_rev`; for an entry (2) the key as above, `u64 create_rev`,
//!   `u64 mod_rev`, `u64 version`, the value and content type as above; for
//!   the end (3)
//!   `u64` entry count and `u64 end_rev`.

use crate::command::{Change, ChangeKind};
use crate::entry::{Entry, Meta};
use crate::error::{CoreError, Result};

/// Magic at the start of every log segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"KVSTLOG\0";
/// Magic at the start of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"KVSTSNP\0";
/// The format version written, and the only one read. Version 2 added the
/// content type and the expiry to puts and snapshot entries; version 1 was
/// never released.
pub const FORMAT_VERSION: u32 = 2;
/// Length of a file header.
pub const FILE_HEADER_LEN: usize = 16;
/// Length of a frame header (length and checksum).
pub const FRAME_HEADER_LEN: usize = 8;
/// Frames longer than this are treated as damage, not data.
pub const MAX_FRAME_LEN: usize = 1 << 30;

const OP_PUT: u8 = 1;
const OP_REMOVE: u8 = 2;
const ITEM_BEGIN: u8 = 1;
const ITEM_ENTRY: u8 = 2;
const ITEM_END: u8 = 3;

/// The 16-byte header of a file with `magic`.
pub fn file_header(magic: [u8; 8]) -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[..8].copy_from_slice(&magic);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// Checks a file header.
///
/// # Errors
///
/// [`CoreError::BadFileHeader`] for a short header, another magic, or a
/// format version this build does not read.
pub fn check_file_header(bytes: &[u8], magic: [u8; 8]) -> Result<()> {
    let bad = |why: String| Err(CoreError::BadFileHeader(why));
    if bytes.len() < FILE_HEADER_LEN {
        return bad(format!("{} bytes, expected {FILE_HEADER_LEN}", bytes.len()));
    }
    if bytes[..8] != magic {
        return bad(format!(
            "magic {:?}, expected {:?}",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(&magic)
        ));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return bad(format!(
            "format version {version}; this build reads version {FORMAT_VERSION}"
        ));
    }
    Ok(())
}

/// Appends one frame to `out`, with the payload written by `payload`.
pub fn encode_frame(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    payload(out);
    let body = &out[start + FRAME_HEADER_LEN..];
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let crc = crc32c::crc32c(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// What is at the start of a byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole frame whose checksum matches.
    Complete {
        /// The payload.
        payload: &'a [u8],
        /// Bytes the frame occupies, header included.
        len: usize,
    },
    /// The slice ends before the frame does.
    Incomplete,
    /// The frame is whole but its checksum or length is wrong.
    Corrupt,
}

/// Reads the frame at the start of `bytes`.
pub fn decode_frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Frame::Incomplete;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if len == 0 || len > MAX_FRAME_LEN {
        return Frame::Corrupt;
    }
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Frame::Incomplete;
    };
    if crc32c::crc32c(payload) != crc {
        return Frame::Corrupt;
    }
    Frame::Complete {
        payload,
        len: FRAME_HEADER_LEN + len,
    }
}

/// One operation of a log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    /// The key now holds this entry (its `mod_rev` is the record's revision).
    Put(Entry),
    /// The key was removed.
    Remove {
        /// The key.
        key: String,
    },
}

/// Everything committed at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The revision.
    pub rev: u64,
    /// What changed.
    pub ops: Vec<LogOp>,
}

/// Appends the log frames for `changes` (in revision order) to `out`: one
/// frame per revision.
pub fn encode_changes(changes: &[Change], out: &mut Vec<u8>) {
    for group in changes.chunk_by(|a, b| a.rev == b.rev) {
        encode_frame(out, |buf| {
            put_u64(buf, group[0].rev);
            put_u32(buf, group.len() as u32);
            for change in group {
                match &change.kind {
                    ChangeKind::Put(entry) => {
                        let meta = entry.meta();
                        buf.push(OP_PUT);
                        put_bytes(buf, change.key.as_bytes());
                        put_u64(buf, meta.create_rev);
                        put_u64(buf, meta.version);
                        put_bytes(buf, entry.value());
                        put_content_type(buf, meta.content_type);
                        put_u64(buf, meta.expires_at.unwrap_or(0));
                    }
                    // An expiry is a removal to whoever replays the log.
                    ChangeKind::Remove | ChangeKind::Expire => {
                        buf.push(OP_REMOVE);
                        put_bytes(buf, change.key.as_bytes());
                    }
                }
            }
        });
    }
}

/// Decodes a log record's payload.
///
/// # Errors
///
/// [`CoreError::Malformed`] when the payload is not a log record.
pub fn decode_log_record(payload: &[u8]) -> Result<LogRecord> {
    let mut r = Reader::new(payload);
    let rev = r.u64()?;
    let count = r.u32()?;
    let mut ops = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        ops.push(match r.u8()? {
            OP_PUT => {
                let key = r.key()?;
                let create_rev = r.u64()?;
                let version = r.u64()?;
                let value = r.bytes()?;
                let meta = Meta {
                    create_rev,
                    mod_rev: rev,
                    version,
                    content_type: r.content_type()?,
                    expires_at: r.expiry()?,
                };
                LogOp::Put(Entry::new(key, value, meta))
            }
            OP_REMOVE => LogOp::Remove {
                key: r.key()?.to_owned(),
            },
            _ => return Err(CoreError::Malformed("unknown op kind")),
        });
    }
    r.finish()?;
    if rev == 0 || ops.is_empty() {
        return Err(CoreError::Malformed("empty record or revision 0"));
    }
    Ok(LogRecord { rev, ops })
}

/// One item of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotItem {
    /// First item: the log must be replayed from after `start_rev`.
    Begin {
        /// The store revision when the snapshot began.
        start_rev: u64,
    },
    /// One key's entry.
    Entry(Entry),
    /// Last item: how many entries came before, and the store revision when
    /// the copy ended. A snapshot without it is incomplete.
    End {
        /// Number of entries.
        count: u64,
        /// The store revision when the copy ended.
        end_rev: u64,
    },
}

/// Whether a snapshot item's payload is an entry (checked without decoding it).
pub fn is_snapshot_entry(payload: &[u8]) -> bool {
    payload.first() == Some(&ITEM_ENTRY)
}

/// Appends the frame of a snapshot's begin item.
pub fn encode_snapshot_begin(start_rev: u64, out: &mut Vec<u8>) {
    encode_frame(out, |buf| {
        buf.push(ITEM_BEGIN);
        put_u64(buf, start_rev);
    });
}

/// Appends the frame of one snapshot entry.
pub fn encode_snapshot_entry(entry: &Entry, out: &mut Vec<u8>) {
    let meta = entry.meta();
    encode_frame(out, |buf| {
        buf.push(ITEM_ENTRY);
        put_bytes(buf, entry.key_bytes());
        put_u64(buf, meta.create_rev);
        put_u64(buf, meta.mod_rev);
        put_u64(buf, meta.version);
        put_bytes(buf, entry.value());
        put_content_type(buf, meta.content_type);
        put_u64(buf, meta.expires_at.unwrap_or(0));
    });
}

/// Appends the frame of a snapshot's end item.
pub fn encode_snapshot_end(count: u64, end_rev: u64, out: &mut Vec<u8>) {
    encode_frame(out, |buf| {
        buf.push(ITEM_END);
        put_u64(buf, count);
        put_u64(buf, end_rev);
    });
}

/// Decodes a snapshot item's payload.
///
/// # Errors
///
/// [`CoreError::Malformed`] when the payload is not a snapshot item.
pub fn decode_snapshot_item(payload: &[u8]) -> Result<SnapshotItem> {
    let mut r = Reader::new(payload);
    let item = match r.u8()? {
        ITEM_BEGIN => SnapshotItem::Begin {
            start_rev: r.u64()?,
        },
        ITEM_ENTRY => {
            let key = r.key()?;
            let create_rev = r.u64()?;
            let mod_rev = r.u64()?;
            let version = r.u64()?;
            let value = r.bytes()?;
            let meta = Meta {
                create_rev,
                mod_rev,
                version,
                content_type: r.content_type()?,
                expires_at: r.expiry()?,
            };
            SnapshotItem::Entry(Entry::new(key, value, meta))
        }
        ITEM_END => SnapshotItem::End {
            count: r.u64()?,
            end_rev: r.u64()?,
        },
        _ => return Err(CoreError::Malformed("unknown snapshot item kind")),
    };
    r.finish()?;
    Ok(item)
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(buf, bytes.len() as u32);
    buf.extend_from_slice(bytes);
}

fn put_content_type(buf: &mut Vec<u8>, content_type: Option<&str>) {
    put_bytes(buf, content_type.unwrap_or_default().as_bytes());
}

/// A cursor over a payload that fails instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(CoreError::Malformed("payload ends early"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn key(&mut self) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CoreError::Malformed("key is not UTF-8"))
    }

    fn content_type(&mut self) -> Result<Option<&'a str>> {
        let bytes = self.bytes()?;
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CoreError::Malformed("content type is not UTF-8"))
    }

    fn expiry(&mut self) -> Result<Option<u64>> {
        Ok(Some(self.u64()?).filter(|at| *at != 0))
    }

    fn finish(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Malformed("trailing bytes after the payload"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(key: &str, value: &[u8], create_rev: u64, mod_rev: u64, version: u64) -> Entry {
        let meta = Meta {
            create_rev,
            mod_rev,
            version,
            content_type: None,
            expires_at: None,
        };
        Entry::new(key, value, meta)
    }

    #[test]
    fn headers_round_trip_and_reject_strangers() {
        let header = file_header(SEGMENT_MAGIC);
        assert_eq!(check_file_header(&header, SEGMENT_MAGIC), Ok(()));
        assert!(check_file_header(&header, SNAPSHOT_MAGIC).is_err());
        assert!(check_file_header(&header[..10], SEGMENT_MAGIC).is_err());
        let mut future = header;
        future[8] = 3;
        let err = check_file_header(&future, SEGMENT_MAGIC).expect_err("version 3");
        assert!(err.to_string().contains("version 3"), "{err}");
        let mut older = header;
        older[8] = 1;
        let err = check_file_header(&older, SEGMENT_MAGIC).expect_err("version 1");
        assert!(err.to_string().contains("format version 1"), "{err}");
    }

    #[test]
    fn log_records_round_trip_binary_keys_and_values() {
        let put = Entry::new(
            "ключ/with space",
            &[0, 255, 10, 13],
            Meta {
                create_rev: 3,
                mod_rev: 7,
                version: 2,
                content_type: Some("image/png"),
                expires_at: None,
            },
        );
        let changes = vec![
            Change {
                rev: 7,
                key: Arc::from("ключ/with space"),
                kind: ChangeKind::Put(put.clone()),
                prev: None,
            },
            Change {
                rev: 8,
                key: Arc::from("gone"),
                kind: ChangeKind::Remove,
                prev: None,
            },
        ];
        let mut buf = Vec::new();
        encode_changes(&changes, &mut buf);
        let Frame::Complete { payload, len } = decode_frame(&buf) else {
            panic!("first frame");
        };
        let first = decode_log_record(payload).expect("decodes");
        assert_eq!(
            first,
            LogRecord {
                rev: 7,
                ops: vec![LogOp::Put(put)],
            }
        );
        let Frame::Complete { payload, len: len2 } = decode_frame(&buf[len..]) else {
            panic!("second frame");
        };
        assert_eq!(len + len2, buf.len());
        let second = decode_log_record(payload).expect("decodes");
        assert_eq!(second.ops, vec![LogOp::Remove { key: "gone".into() }]);
    }

    /// The payload after the frame header, checking the header.
    fn payload_of(frame: &[u8]) -> &[u8] {
        let Frame::Complete { payload, len } = decode_frame(frame) else {
            panic!("not a frame: {frame:?}");
        };
        assert_eq!(len, frame.len());
        payload
    }

    /// Pins the on-disk layout byte for byte: data directories written by
    /// earlier releases must keep opening.
    #[test]
    fn the_record_layouts_on_disk_are_unchanged() {
        let entry = Entry::new(
            "k1",
            b"val",
            Meta {
                create_rev: 3,
                mod_rev: 7,
                version: 2,
                content_type: Some("t/x"),
                expires_at: Some(0x0102),
            },
        );
        let mut log = Vec::new();
        encode_changes(
            &[Change {
                rev: 7,
                key: Arc::from("k1"),
                kind: ChangeKind::Put(entry.clone()),
                prev: None,
            }],
            &mut log,
        );
        #[rustfmt::skip]
        let expected_log: &[u8] = &[
            7, 0, 0, 0, 0, 0, 0, 0, // revision
            1, 0, 0, 0, // one op
            1, // put
            2, 0, 0, 0, b'k', b'1', // key
            3, 0, 0, 0, 0, 0, 0, 0, // create_rev
            2, 0, 0, 0, 0, 0, 0, 0, // version
            3, 0, 0, 0, b'v', b'a', b'l', // value
            3, 0, 0, 0, b't', b'/', b'x', // content type
            2, 1, 0, 0, 0, 0, 0, 0, // expires_at
        ];
        assert_eq!(payload_of(&log), expected_log);
        let mut snapshot = Vec::new();
        encode_snapshot_entry(&entry, &mut snapshot);
        #[rustfmt::skip]
        let expected_snapshot: &[u8] = &[
            2, // entry
            2, 0, 0, 0, b'k', b'1', // key
            3, 0, 0, 0, 0, 0, 0, 0, // create_rev
            7, 0, 0, 0, 0, 0, 0, 0, // mod_rev
            2, 0, 0, 0, 0, 0, 0, 0, // version
            3, 0, 0, 0, b'v', b'a', b'l', // value
            3, 0, 0, 0, b't', b'/', b'x', // content type
            2, 1, 0, 0, 0, 0, 0, 0, // expires_at
        ];
        assert_eq!(payload_of(&snapshot), expected_snapshot);
    }

    #[test]
    fn changes_sharing_a_revision_share_a_record() {
        let change = |key: &str| Change {
            rev: 5,
            key: Arc::from(key),
            kind: ChangeKind::Remove,
            prev: None,
        };
        let mut buf = Vec::new();
        encode_changes(&[change("a"), change("b")], &mut buf);
        let Frame::Complete { payload, len } = decode_frame(&buf) else {
            panic!("frame");
        };
        assert_eq!(len, buf.len());
        assert_eq!(decode_log_record(payload).expect("decodes").ops.len(), 2);
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_bit_flip_is_caught() {
        let mut buf = Vec::new();
        encode_snapshot_entry(&entry("k", b"value", 1, 2, 3), &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(decode_frame(&buf[..cut]), Frame::Incomplete, "cut at {cut}");
        }
        for bit in 0..buf.len() * 8 {
            let mut damaged = buf.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            match decode_frame(&damaged) {
                Frame::Complete { payload, .. } => {
                    panic!("flip of bit {bit} went unnoticed: {payload:?}")
                }
                Frame::Incomplete | Frame::Corrupt => {}
            }
        }
    }

    #[test]
    fn snapshot_items_round_trip() {
        let mut buf = Vec::new();
        encode_snapshot_begin(10, &mut buf);
        encode_snapshot_entry(&entry("k", b"v", 1, 9, 4), &mut buf);
        encode_snapshot_end(1, 12, &mut buf);
        let mut items = Vec::new();
        let mut rest = &buf[..];
        while let Frame::Complete { payload, len } = decode_frame(rest) {
            items.push(decode_snapshot_item(payload).expect("decodes"));
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            items,
            vec![
                SnapshotItem::Begin { start_rev: 10 },
                SnapshotItem::Entry(entry("k", b"v", 1, 9, 4)),
                SnapshotItem::End {
                    count: 1,
                    end_rev: 12
                },
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        for payload in [&[][..], &[9], &[1, 2, 3], &[2, 255, 255, 255, 255]] {
            assert!(decode_snapshot_item(payload).is_err());
            assert!(decode_log_record(payload).is_err());
        }
    }
}
