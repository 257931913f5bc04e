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
//! - A batch of commands (replicated mode's log): see [`commands`].

mod command_bytes;
pub mod commands;

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
mod tests;
