//! [`Event`]: one committed change as the feed carries it.

use std::sync::OnceLock;

use kv_core::api::WatchEvent;
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
/// rather than copied, and the JSON forms are encoded once however many
/// readers send them.
///
/// The feed's ring keeps the last events in memory, so an event is kept
/// small: two thin entry pointers and two lazily filled text cells.
#[derive(Debug)]
pub struct Event {
    /// The revision.
    pub rev: u64,
    /// What happened.
    pub op: Op,
    /// The entry written, for `set`; the entry removed otherwise. Either way
    /// it carries the key.
    subject: Entry,
    /// The entry before the change, if the key existed.
    prev: Option<Entry>,
    json: OnceLock<Box<str>>,
    json_with_prev: OnceLock<Box<str>>,
}

impl Event {
    /// The event for a committed change.
    pub fn from_change(change: &Change) -> Self {
        let (op, subject) = match &change.kind {
            ChangeKind::Put(entry) => (Op::Set, entry.clone()),
            ChangeKind::Remove => (Op::Rm, Self::removed(change)),
            ChangeKind::Expire => (Op::Expire, Self::removed(change)),
        };
        Self {
            rev: change.rev,
            op,
            subject,
            prev: change.prev.clone(),
            json: OnceLock::new(),
            json_with_prev: OnceLock::new(),
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

    /// The wire form; `prev` only when `with_prev`.
    pub fn to_wire(&self, with_prev: bool) -> WatchEvent {
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        WatchEvent {
            rev: self.rev,
            op: self.op.as_str().to_owned(),
            key: self.key().to_owned(),
            val: self.val().map(text),
            prev: if with_prev {
                self.prev().map(text)
            } else {
                None
            },
        }
    }

    /// The JSON text of [`to_wire`](Self::to_wire), encoded on first use.
    pub fn json(&self, with_prev: bool) -> &str {
        let cell = if with_prev {
            &self.json_with_prev
        } else {
            &self.json
        };
        cell.get_or_init(|| {
            serde_json::to_string(&self.to_wire(with_prev))
                .unwrap_or_else(|e| unreachable!("a WatchEvent always serializes: {e}"))
                .into_boxed_str()
        })
    }

    /// Bytes this event holds, for the ring's byte limit.
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 96;
        OVERHEAD
            + self.key().len()
            + self.val().map_or(0, <[u8]>::len)
            + self.prev().map_or(0, <[u8]>::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_set_event_carries_the_value_and_prev_only_when_asked() {
        let meta = |mod_rev, version| Meta {
            create_rev: 1,
            mod_rev,
            version,
            content_type: None,
            expires_at: None,
        };
        let change = Change {
            rev: 3,
            key: Arc::from("k"),
            kind: ChangeKind::Put(Entry::new("k", b"new", meta(3, 2))),
            prev: Some(Entry::new("k", b"old", meta(1, 1))),
        };
        let event = Event::from_change(&change);
        assert_eq!(
            event.json(false),
            r#"{"rev":3,"op":"set","key":"k","val":"new"}"#
        );
        assert_eq!(
            event.json(true),
            r#"{"rev":3,"op":"set","key":"k","val":"new","prev":"old"}"#
        );
    }
}
