//! [`Event`]: one committed change as the feed carries it.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use kv_core::api::WatchEvent;
use kv_core::value_text::to_text;
use kv_core::{Change, ChangeKind, Entry, Meta};

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A value was written.
    Set,
    /// A key was removed.
    Rm,
    /// A key expired.
    Expire,
}

impl Op {
    /// `set`, `rm` or `expire`: the event's `op` field and its NATS subject.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Set => "set",
            Op::Rm => "rm",
            Op::Expire => "expire",
        }
    }

    /// Parses `set`, `rm` or `expire`.
    pub fn parse(s: &str) -> Option<Op> {
        match s {
            "set" => Some(Op::Set),
            "rm" => Some(Op::Rm),
            "expire" => Some(Op::Expire),
            _ => None,
        }
    }
}

/// One committed change. Keys and values are the store's own entries, shared
/// rather than copied, and the encoded forms are built once however many
/// readers send them: every watcher sends the same bytes.
///
/// The encoded form is a Server-Sent Events frame (`id:`, `event:`,
/// `data: <JSON>`); the JSON alone (for NATS) is a slice of it.
#[derive(Debug)]
pub struct Event {
    /// The revision.
    pub rev: u64,
    /// What happened.
    pub op: Op,
    /// Whether this is the last event of its revision. A prefix removal or
    /// a transaction changes several keys at one revision; only the last
    /// event's frame carries `id:`, so that a client resuming from its
    /// `Last-Event-ID` never skips the rest of a revision.
    pub closes_rev: bool,
    /// The entry written, for `set`; the entry removed otherwise. Either way
    /// it carries the key.
    subject: Entry,
    /// The entry before the change, if the key existed.
    prev: Option<Entry>,
    frame: OnceLock<Bytes>,
    frame_with_prev: OnceLock<Bytes>,
    /// Bytes of encoded frames the hub's ring counts for this event, or
    /// [`EVICTED`] once it left the ring (changed under the ring's lock).
    accounted: AtomicUsize,
}

/// [`Event::accounted`] of an event no longer in the ring.
const EVICTED: usize = usize::MAX;

impl Event {
    /// The event for a committed change; `closes_rev` when no later change
    /// of the batch has the same revision.
    pub fn from_change(change: &Change, closes_rev: bool) -> Self {
        let (op, subject) = match &change.kind {
            ChangeKind::Put(entry) => (Op::Set, entry.clone()),
            ChangeKind::Remove => (Op::Rm, Self::removed(change)),
            ChangeKind::Expire => (Op::Expire, Self::removed(change)),
        };
        Self {
            rev: change.rev,
            op,
            closes_rev,
            subject,
            prev: change.prev.clone(),
            frame: OnceLock::new(),
            frame_with_prev: OnceLock::new(),
            accounted: AtomicUsize::new(0),
        }
    }

    /// The entry a removal removed. The store only commits a removal of a
    /// key that exists, so `prev` is always there; a bare key stands in if
    /// a caller builds a change without it.
    fn removed(change: &Change) -> Entry {
        change
            .prev
            .clone()
            .unwrap_or_else(|| Entry::new(&change.key, b"", Meta::default()))
    }

    /// The key.
    pub fn key(&self) -> &str {
        self.subject.key()
    }

    /// The new value, for `set`.
    pub fn val(&self) -> Option<&[u8]> {
        (self.op == Op::Set).then(|| self.subject.value())
    }

    /// The value before, if the key existed.
    pub fn prev(&self) -> Option<&[u8]> {
        self.prev.as_ref().map(Entry::value)
    }

    /// The wire form; `prev` only when `with_prev`. A value that is not
    /// UTF-8 is carried as base64, with its `encoding` saying so.
    pub fn to_wire(&self, with_prev: bool) -> WatchEvent {
        let (val, encoding) = self.val().map(to_text).unzip();
        let (prev, prev_encoding) = self.prev().filter(|_| with_prev).map(to_text).unzip();
        WatchEvent {
            rev: self.rev,
            op: self.op.as_str().to_owned(),
            key: self.key().to_owned(),
            val,
            encoding: encoding.flatten(),
            prev,
            prev_encoding: prev_encoding.flatten(),
        }
    }

    /// The Server-Sent Events frame of this event, encoded on first use;
    /// `true` beside it when this call encoded it.
    pub fn frame(&self, with_prev: bool) -> (Bytes, bool) {
        let cell = if with_prev {
            &self.frame_with_prev
        } else {
            &self.frame
        };
        let mut fresh = false;
        let frame = cell.get_or_init(|| {
            fresh = true;
            self.encode_frame(with_prev)
        });
        (frame.clone(), fresh)
    }

    /// The JSON of [`to_wire`](Self::to_wire): a slice of the frame, so
    /// encoded once for both.
    pub fn json(&self, with_prev: bool) -> Bytes {
        let (frame, _) = self.frame(with_prev);
        let start = self.frame_head_len();
        frame.slice(start..frame.len() - FRAME_END.len())
    }

    fn frame_head_len(&self) -> usize {
        let id = if self.closes_rev {
            "id: \n".len() + decimal_len(self.rev)
        } else {
            0
        };
        id + "event: \ndata: ".len() + self.op.as_str().len()
    }

    fn encode_frame(&self, with_prev: bool) -> Bytes {
        let mut text = Vec::with_capacity(self.size() + 64);
        if self.closes_rev {
            let _ = writeln!(text, "id: {}", self.rev);
        }
        let _ = write!(text, "event: {}\ndata: ", self.op.as_str());
        serde_json::to_writer(&mut text, &self.to_wire(with_prev))
            .unwrap_or_else(|e| unreachable!("a WatchEvent always serializes: {e}"));
        text.extend_from_slice(FRAME_END);
        Bytes::from(text)
    }

    /// Bytes this event holds besides its encoded frames, for the ring's
    /// byte limit.
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 136;
        OVERHEAD
            + self.key().len()
            + self.val().map_or(0, <[u8]>::len)
            + self.prev().map_or(0, <[u8]>::len)
    }

    /// Adds `bytes` of a new frame to what the ring counts for this event,
    /// unless it left the ring. Call under the ring's lock; returns whether
    /// it was counted.
    pub(crate) fn account(&self, bytes: usize) -> bool {
        let now = self.accounted.load(Ordering::Relaxed);
        if now == EVICTED {
            return false;
        }
        self.accounted.store(now + bytes, Ordering::Relaxed);
        true
    }

    /// Marks the event as out of the ring; returns the frame bytes the
    /// ring counted for it. Call under the ring's lock.
    pub(crate) fn evict(&self) -> usize {
        self.accounted.swap(EVICTED, Ordering::Relaxed)
    }
}

/// The blank line that ends a Server-Sent Events frame.
const FRAME_END: &[u8] = b"\n\n";

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn meta(mod_rev: u64, version: u64) -> Meta<'static> {
        Meta {
            create_rev: 1,
            mod_rev,
            version,
            content_type: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_set_event_carries_the_value_and_prev_only_when_asked() {
        let change = Change {
            rev: 3,
            key: Arc::from("k"),
            kind: ChangeKind::Put(Entry::new("k", b"new", meta(3, 2))),
            prev: Some(Entry::new("k", b"old", meta(1, 1))),
        };
        let event = Event::from_change(&change, true);
        assert_eq!(
            &event.json(false)[..],
            br#"{"rev":3,"op":"set","key":"k","val":"new"}"#
        );
        assert_eq!(
            &event.json(true)[..],
            br#"{"rev":3,"op":"set","key":"k","val":"new","prev":"old"}"#
        );
        let (frame, fresh) = event.frame(true);
        assert!(!fresh, "encoded once, by json(true)");
        assert_eq!(
            &frame[..],
            &b"id: 3\nevent: set\ndata: {\"rev\":3,\"op\":\"set\",\"key\":\"k\",\"val\":\"new\",\"prev\":\"old\"}\n\n"[..]
        );
    }

    #[test]
    fn binary_values_travel_as_base64_and_mid_revision_events_carry_no_id() {
        let all: Vec<u8> = (0..=255).collect();
        let change = Change {
            rev: 12345,
            key: Arc::from("bin"),
            kind: ChangeKind::Put(Entry::new("bin", &all, meta(12345, 2))),
            prev: Some(Entry::new("bin", &[0xff, 0xfe, 0], meta(1, 1))),
        };
        let event = Event::from_change(&change, false);
        let wire: WatchEvent = serde_json::from_slice(&event.json(true)).expect("JSON");
        assert_eq!(wire.encoding.as_deref(), Some("base64"));
        assert_eq!(wire.val_bytes(), Ok(Some(all)));
        assert_eq!(wire.prev_encoding.as_deref(), Some("base64"));
        let (frame, _) = event.frame(true);
        assert!(frame.starts_with(b"event: set\ndata: {"), "{frame:?}");
    }
}
