//! A stored entry: key, value and revision metadata in one allocation.
//!
//! A million small keys are mostly overhead when each one is a key
//! allocation, a value allocation and a wide map slot. An [`Entry`] is a
//! single reference-counted allocation holding everything, reached through
//! a thin (8-byte) pointer:
//!
//! ```text
//! varint key_len | key | flags | varint mod_rev | varint mod_rev - create_rev
//!   | varint version | [varint expires_at] | [varint len, content type] | value
//! ```
//!
//! Revisions are LEB128 varints: a store at revision one million spends
//! three bytes on `mod_rev`, one on `create_rev` for a key written once, one
//! on `version`. The key comes first so that comparing two entries' keys,
//! which a map lookup does a dozen times, reads one byte before the key.
//! Accessors decode on each call; it is a few nanoseconds, far below the
//! cost of the request that asked.

use std::fmt;

use triomphe::{HeaderWithLength, ThinArc};

/// Flag: an expiry follows the version.
const HAS_EXPIRY: u8 = 1;
/// Flag: a content type follows the expiry.
const HAS_CONTENT_TYPE: u8 = 2;

/// What an entry records besides its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta<'a> {
    /// The revision at which the key was created (since it last did not exist).
    pub create_rev: u64,
    /// The revision of the last write to the key.
    pub mod_rev: u64,
    /// Number of writes since creation: 1 after the first set.
    pub version: u64,
    /// The media type the value was stored with, if any.
    pub content_type: Option<&'a str>,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

/// One key with its current value and metadata, in one shared allocation.
///
/// Cloning is cheap (a reference count); the store, the change feed and the
/// replies all share the same bytes. Two entries are equal when they hold the
/// same key, value and metadata.
#[derive(Clone)]
pub struct Entry(ThinArc<(), u8>);

/// An entry decoded: borrowed views of its parts.
struct Parts<'a> {
    key: &'a [u8],
    meta: Meta<'a>,
    value: &'a [u8],
}

impl Entry {
    /// An entry holding `key`, `value` and `meta`.
    pub fn new(key: &str, value: &[u8], meta: Meta<'_>) -> Self {
        // The fields between the key and the content type: a flag byte and
        // at most five varints of up to 10 bytes.
        let mut head = [0u8; 64];
        let mut at = 0;
        let mut flags = 0;
        if meta.expires_at.is_some() {
            flags |= HAS_EXPIRY;
        }
        if meta.content_type.is_some() {
            flags |= HAS_CONTENT_TYPE;
        }
        head[0] = flags;
        at += 1;
        for v in [
            Some(meta.mod_rev),
            Some(meta.mod_rev.wrapping_sub(meta.create_rev)),
            Some(meta.version),
            meta.expires_at,
            meta.content_type.map(|c| c.len() as u64),
        ]
        .into_iter()
        .flatten()
        {
            at += put_varint(&mut head[at..], v);
        }
        let content_type = meta.content_type.unwrap_or_default().as_bytes();
        let mut key_len = [0u8; 10];
        let key_len_bytes = put_varint(&mut key_len, key.len() as u64);
        let pieces = [
            &key_len[..key_len_bytes],
            key.as_bytes(),
            &head[..at],
            content_type,
            value,
        ];
        let len = pieces.iter().map(|p| p.len()).sum();
        // One allocation, filled in place: zeroed, then each piece copied.
        let mut arc = triomphe::Arc::from_header_and_iter(
            HeaderWithLength::new((), len),
            std::iter::repeat_n(0u8, len),
        );
        let slice = &mut triomphe::Arc::get_mut(&mut arc)
            .unwrap_or_else(|| unreachable!("a new Arc has one owner"))
            .slice;
        let mut at = 0;
        for piece in pieces {
            slice[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        }
        Entry(triomphe::Arc::into_thin(arc))
    }

    /// The key's bytes (UTF-8), for ordering without a UTF-8 check.
    ///
    /// A map lookup calls this a dozen times, so keys under 128 bytes (a
    /// one-byte length) take a short path.
    #[inline]
    pub fn key_bytes(&self) -> &[u8] {
        let bytes = &self.0.slice;
        match bytes.first() {
            Some(&len) if len < 0x80 => &bytes[1..1 + len as usize],
            _ => {
                let mut cursor = Cursor(bytes);
                let len = cursor.varint() as usize;
                cursor.take(len)
            }
        }
    }

    /// The key.
    pub fn key(&self) -> &str {
        std::str::from_utf8(self.key_bytes())
            .unwrap_or_else(|_| unreachable!("keys are stored from a &str"))
    }

    /// The value bytes.
    pub fn value(&self) -> &[u8] {
        self.parts().value
    }

    /// The metadata.
    pub fn meta(&self) -> Meta<'_> {
        self.parts().meta
    }

    /// The revision at which the key was created.
    pub fn create_rev(&self) -> u64 {
        self.meta().create_rev
    }

    /// The revision of the last write to the key.
    pub fn mod_rev(&self) -> u64 {
        self.meta().mod_rev
    }

    /// Number of writes since creation.
    pub fn version(&self) -> u64 {
        self.meta().version
    }

    /// The media type the value was stored with, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.meta().content_type
    }

    /// When the key expires, in milliseconds since the Unix epoch.
    pub fn expires_at(&self) -> Option<u64> {
        self.meta().expires_at
    }

    /// Whether the entry has expired at `now` (milliseconds since the epoch).
    ///
    /// ```
    /// use kv_core::{Command, Limits, Store};
    ///
    /// let (store, mut writer) = Store::new(16, Limits::default())?;
    /// let now = 1_000;
    /// let session = Command::Set {
    ///     key: "session".into(),
    ///     value: b"token".to_vec(),
    ///     content_type: None,
    ///     expires_at: Some(now + 30_000), // 30 s from now
    ///     condition: Default::default(),
    /// };
    /// writer.apply(&writer.prepare([session], now));
    /// let entry = store.get("session", now)?.expect("alive");
    /// assert!(!entry.is_expired(now + 29_999) && entry.is_expired(now + 30_000));
    /// // Reads at a later time no longer see it, even before the expiry
    /// // is committed (the server's expiry scheduler commits it).
    /// assert!(store.get("session", now + 30_000)?.is_none());
    /// # Ok::<(), kv_core::CoreError>(())
    /// ```
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    /// A 64-bit fingerprint of everything the entry holds (key, value,
    /// revisions, version, expiry, content type): SipHash-1-3 with zero keys
    /// (`std::hash::DefaultHasher::new()`) over its bytes, so the same
    /// entry gives the same number in every process built by the same Rust
    /// release. The store sums these into its digest.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::Hasher;
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(&self.0.slice);
        hasher.finish()
    }

    /// Bytes of key and value, as the store's `live_bytes` counts them.
    pub fn size(&self) -> usize {
        let parts = self.parts();
        parts.key.len() + parts.value.len()
    }

    fn parts(&self) -> Parts<'_> {
        let mut cursor = Cursor(&self.0.slice);
        let key_len = cursor.varint() as usize;
        let key = cursor.take(key_len);
        let flags = cursor.take(1)[0];
        let mod_rev = cursor.varint();
        let create_rev = mod_rev.wrapping_sub(cursor.varint());
        let version = cursor.varint();
        let expires_at = (flags & HAS_EXPIRY != 0).then(|| cursor.varint());
        let content_type = (flags & HAS_CONTENT_TYPE != 0).then(|| {
            let len = cursor.varint() as usize;
            std::str::from_utf8(cursor.take(len))
                .unwrap_or_else(|_| unreachable!("content types are stored from a &str"))
        });
        Parts {
            key,
            meta: Meta {
                create_rev,
                mod_rev,
                version,
                content_type,
                expires_at,
            },
            value: cursor.0,
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.0.slice == other.0.slice
    }
}

impl Eq for Entry {}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Parts { key, meta, value } = self.parts();
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(key))
            .field("value", &String::from_utf8_lossy(value))
            .field("meta", &meta)
            .finish()
    }
}

/// Writes `v` as a LEB128 varint at the start of `out` (at least 10
/// bytes); returns its length.
fn put_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = v as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

/// Reads an entry's bytes front to back. Entries are only built by
/// [`Entry::new`], so the bytes are always well formed.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.take(1)[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_round_trips() {
        let metas = [
            Meta::default(),
            Meta {
                create_rev: 1,
                mod_rev: 1,
                version: 1,
                content_type: None,
                expires_at: None,
            },
            Meta {
                create_rev: 5,
                mod_rev: 1 << 40,
                version: u64::MAX,
                content_type: Some("application/octet-stream"),
                expires_at: Some(1_700_000_000_000),
            },
            // Nothing stops a caller from passing create_rev > mod_rev.
            Meta {
                create_rev: u64::MAX,
                mod_rev: 0,
                version: 0,
                content_type: Some(""),
                expires_at: Some(0),
            },
        ];
        for meta in metas {
            for (key, value) in [
                ("k", &b"v"[..]),
                ("", b""),
                ("ключ/🔑", &[0xff, 0, 0x80][..]),
            ] {
                let entry = Entry::new(key, value, meta);
                assert_eq!(entry.key(), key);
                assert_eq!(entry.key_bytes(), key.as_bytes());
                assert_eq!(entry.value(), value);
                assert_eq!(entry.meta(), meta);
                assert_eq!(entry.size(), key.len() + value.len());
            }
        }
    }

    #[test]
    fn a_long_key_uses_a_multi_byte_length() {
        let key = "k".repeat(300);
        let entry = Entry::new(&key, b"value", Meta::default());
        assert_eq!((entry.key(), entry.value()), (key.as_str(), &b"value"[..]));
    }

    #[test]
    fn equality_is_by_content_and_expiry_by_deadline() {
        let meta = Meta {
            expires_at: Some(10),
            ..Meta::default()
        };
        let a = Entry::new("k", b"v", meta);
        assert_eq!(a, Entry::new("k", b"v", meta));
        assert_ne!(a, Entry::new("k", b"w", meta));
        let forever = Entry::new("k", b"v", Meta::default());
        assert_ne!(a, forever);
        assert!(!a.is_expired(9));
        assert!(a.is_expired(10));
        assert!(!forever.is_expired(u64::MAX));
    }
}
