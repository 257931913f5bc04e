//! [`Event`]: one committed change as the feed carries it.

use std::sync::{Arc, OnceLock};

use kv_core::api::WatchEvent;
use kv_core::{Change, ChangeKind};

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

/// One committed change. Values are shared with the store, not copied, and
/// the JSON forms are encoded once however many readers send them.
#[derive(Debug)]
pub struct Event {
    /// The revision.
    pub rev: u64,
    /// What happened.
    pub op: Op,
    /// The key.
    pub key: Arc<str>,
    /// The new value, for `set`.
    pub val: Option<Arc<[u8]>>,
    /// The value before, if the key existed.
    pub prev: Option<Arc<[u8]>>,
    json: OnceLock<String>,
    json_with_prev: OnceLock<String>,
}

impl Event {
    /// An event from its parts.
    pub fn new(
        rev: u64,
        op: Op,
        key: Arc<str>,
        val: Option<Arc<[u8]>>,
        prev: Option<Arc<[u8]>>,
    ) -> Self {
        Self {
            rev,
            op,
            key,
            val,
            prev,
            json: OnceLock::new(),
            json_with_prev: OnceLock::new(),
        }
    }

    /// The event for a committed change.
    pub fn from_change(change: &Change) -> Self {
        let (op, val) = match &change.kind {
            ChangeKind::Put(entry) => (Op::Set, Some(Arc::clone(&entry.value))),
            ChangeKind::Remove => (Op::Rm, None),
            ChangeKind::Expire => (Op::Expire, None),
        };
        let prev = change.prev.as_ref().map(|e| Arc::clone(&e.value));
        Self::new(change.rev, op, Arc::clone(&change.key), val, prev)
    }

    /// The wire form; `prev` only when `with_prev`.
    pub fn to_wire(&self, with_prev: bool) -> WatchEvent {
        let text = |v: &Arc<[u8]>| String::from_utf8_lossy(v).into_owned();
        WatchEvent {
            rev: self.rev,
            op: self.op.as_str().to_owned(),
            key: self.key.to_string(),
            val: self.val.as_ref().map(text),
            prev: if with_prev {
                self.prev.as_ref().map(text)
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
        })
    }

    /// Bytes this event holds, for the ring's byte limit.
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 96;
        OVERHEAD
            + self.key.len()
            + self.val.as_ref().map_or(0, |v| v.len())
            + self.prev.as_ref().map_or(0, |v| v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_core::Entry;

    #[test]
    fn a_set_event_carries_the_value_and_prev_only_when_asked() {
        let change = Change {
            rev: 3,
            key: Arc::from("k"),
            kind: ChangeKind::Put(Entry {
                value: Arc::from(&b"new"[..]),
                create_rev: 1,
                mod_rev: 3,
                version: 2,
                content_type: None,
                expires_at: None,
            }),
            prev: Some(Entry {
                value: Arc::from(&b"old"[..]),
                create_rev: 1,
                mod_rev: 1,
                version: 1,
                content_type: None,
                expires_at: None,
            }),
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
