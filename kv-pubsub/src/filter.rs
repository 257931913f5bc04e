//! [`Filter`]: which events a watcher wants.

use crate::event::{Event, Op};

/// A watcher's selection: one key or a prefix, and some ops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this key.
    pub key: Option<String>,
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Only these ops (all when empty).
    pub ops: Vec<Op>,
}

impl Filter {
    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.key.as_deref().is_none_or(|k| event.key() == k)
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| event.key().starts_with(p))
            && (self.ops.is_empty() || self.ops.contains(&event.op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kv_core::{Change, ChangeKind, Entry, Meta};
    use std::sync::Arc;

    fn event(key: &str, op: Op) -> Event {
        let entry = Entry::new(key, b"", Meta::default());
        let (kind, prev) = match op {
            Op::Set => (ChangeKind::Put(entry), None),
            Op::Rm => (ChangeKind::Remove, Some(entry)),
            Op::Expire => (ChangeKind::Expire, Some(entry)),
        };
        Event::from_change(
            &Change {
                rev: 1,
                key: Arc::from(key),
                kind,
                prev,
            },
            true,
        )
    }

    #[test]
    fn filters_combine() {
        let all = Filter::default();
        assert!(all.matches(&event("a", Op::Rm)));
        let prefix = Filter {
            prefix: Some("user/".into()),
            ops: vec![Op::Set],
            ..Filter::default()
        };
        assert!(prefix.matches(&event("user/1", Op::Set)));
        assert!(!prefix.matches(&event("user/1", Op::Rm)));
        assert!(!prefix.matches(&event("users", Op::Set)));
        let key = Filter {
            key: Some("k".into()),
            ..Filter::default()
        };
        assert!(key.matches(&event("k", Op::Set)));
        assert!(!key.matches(&event("k2", Op::Set)));
    }
}
