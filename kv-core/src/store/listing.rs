//! Listing keys in order: [`Store::list`], one page at a time.
//!
//! Each shard keeps its keys sorted; a page takes, from every shard, the
//! next keys after the cursor that match the prefix (at most one page's
//! worth each, under that shard's read lock alone), then merges them. With a
//! delimiter, keys that continue past the next delimiter are rolled up into
//! one "common prefix", like a directory listing.
//!
//! A page is not a snapshot across shards: each key is as it was when its
//! shard was read, at or after the revision the page reports.

use std::ops::Bound;

use crate::entry::Entry;
use crate::store::state::{Slot, StoreState};
use crate::store::Store;

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only keys after this one (the previous page's `next`).
    pub start_after: Option<String>,
    /// Most items (entries and common prefixes) in the page; at least 1.
    pub limit: usize,
    /// Most bytes of keys and values in the page (at least one item is
    /// always returned).
    pub max_bytes: usize,
    /// Roll keys up at the first occurrence of this after the prefix.
    pub delimiter: Option<char>,
}

/// One item of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListItem {
    /// A key's entry.
    Entry(Entry),
    /// A common prefix (ends with the delimiter) standing for all the keys
    /// under it.
    Prefix(String),
}

impl ListItem {
    /// The key or the common prefix.
    pub fn key_or_prefix(&self) -> String {
        match self {
            ListItem::Entry(entry) => entry.key().to_owned(),
            ListItem::Prefix(prefix) => prefix.clone(),
        }
    }

    /// The key or the common prefix, as bytes (they sort as the text does).
    fn name(&self) -> &[u8] {
        match self {
            ListItem::Entry(entry) => entry.key_bytes(),
            ListItem::Prefix(prefix) => prefix.as_bytes(),
        }
    }

    fn size(&self) -> usize {
        match self {
            ListItem::Entry(entry) => entry.size(),
            ListItem::Prefix(prefix) => prefix.len(),
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The items, sorted by key.
    pub items: Vec<ListItem>,
    /// Pass as `start_after` for the next page; `None` when this was the
    /// last one.
    pub next: Option<String>,
    /// The store revision when the page was started.
    pub rev: u64,
}

impl Store {
    /// One page of the keys matching `query`, in key order, leaving out
    /// those expired at `now` (milliseconds since the epoch).
    ///
    /// ```
    /// use kv_core::store::listing::{ListItem, ListQuery};
    /// use kv_core::{Command, Limits, Store};
    ///
    /// let (store, mut writer) = Store::new(16, Limits::default())?;
    /// let keys = ["app/a", "app/b", "app/cfg/x", "app/cfg/y", "other"];
    /// writer.apply(&writer.prepare(keys.map(|k| Command::set(k, "v")), 0));
    ///
    /// // Like a directory listing: keys under app/, folders rolled up at '/'.
    /// let query = ListQuery {
    ///     prefix: "app/".into(),
    ///     limit: 2,
    ///     max_bytes: usize::MAX,
    ///     delimiter: Some('/'),
    ///     ..ListQuery::default()
    /// };
    /// let first = store.list(&query, 0);
    /// let names: Vec<String> = first.items.iter().map(ListItem::key_or_prefix).collect();
    /// assert_eq!(names, ["app/a", "app/b"]);
    /// // The next page starts after the last item of this one.
    /// let second = store.list(&ListQuery { start_after: first.next, ..query }, 0);
    /// assert!(matches!(&second.items[..], [ListItem::Prefix(p)] if p == "app/cfg/"));
    /// assert_eq!(second.next, None);
    /// # Ok::<(), kv_core::CoreError>(())
    /// ```
    pub fn list(&self, query: &ListQuery, now: u64) -> ListPage {
        let rev = self.revision();
        let limit = query.limit.max(1);
        let mut items: Vec<ListItem> = Vec::new();
        let mut more = false;
        // A cursor that is a common prefix skips everything under it.
        let skip_under = query
            .delimiter
            .zip(query.start_after.as_deref())
            .filter(|(d, after)| after.ends_with(*d))
            .map(|(_, after)| after);
        for shard in self.state.shards.iter() {
            let shard = StoreState::read(shard);
            let lower = match &query.start_after {
                Some(after) if after.as_str() >= query.prefix.as_str() => {
                    Bound::Excluded(after.as_bytes())
                }
                _ => Bound::Included(query.prefix.as_bytes()),
            };
            let mut taken = 0;
            let mut last_prefix: Option<String> = None;
            for Slot(entry) in shard.range::<[u8], _>((lower, Bound::Unbounded)) {
                let key = entry.key();
                if !key.starts_with(query.prefix.as_str()) {
                    break;
                }
                if skip_under.is_some_and(|under| key.starts_with(under)) || entry.is_expired(now) {
                    continue;
                }
                let item = match rolled_up(key, &query.prefix, query.delimiter) {
                    Some(prefix) if last_prefix.as_deref() == Some(prefix.as_str()) => continue,
                    Some(prefix) => {
                        last_prefix = Some(prefix.clone());
                        ListItem::Prefix(prefix)
                    }
                    None => ListItem::Entry(entry.clone()),
                };
                if taken == limit {
                    more = true;
                    break;
                }
                items.push(item);
                taken += 1;
            }
        }
        items.sort_by(|a, b| a.name().cmp(b.name()));
        items.dedup_by(|a, b| a.name() == b.name());
        let mut page = Vec::with_capacity(limit.min(items.len()));
        let mut bytes = 0;
        let total = items.len();
        for item in items {
            if page.len() == limit || (!page.is_empty() && bytes + item.size() > query.max_bytes) {
                break;
            }
            bytes += item.size();
            page.push(item);
        }
        let next = (more || page.len() < total)
            .then(|| page.last().map(ListItem::key_or_prefix))
            .flatten();
        ListPage {
            items: page,
            next,
            rev,
        }
    }
}

/// The common prefix `key` rolls up into: the prefix plus everything up to
/// and including the first delimiter after it.
fn rolled_up(key: &str, prefix: &str, delimiter: Option<char>) -> Option<String> {
    let delimiter = delimiter?;
    let rest = &key[prefix.len()..];
    rest.find(delimiter)
        .map(|at| key[..prefix.len() + at + delimiter.len_utf8()].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Limits};

    fn store_with(keys: &[&str]) -> Store {
        let (store, mut writer) = Store::new(8, Limits::default()).expect("valid");
        let batch = writer.prepare(keys.iter().map(|k| Command::set(*k, k.as_bytes())), 0);
        writer.apply(&batch);
        store
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.items.iter().map(ListItem::key_or_prefix).collect()
    }

    fn query(prefix: &str, limit: usize) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            limit,
            max_bytes: usize::MAX,
            ..ListQuery::default()
        }
    }

    #[test]
    fn pages_cover_every_key_once_in_order() {
        let keys: Vec<String> = (0..500).map(|i| format!("k{i:04}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let store = store_with(&refs);
        let mut seen = Vec::new();
        let mut q = query("k", 37);
        loop {
            let page = store.list(&q, 0);
            seen.extend(names(&page));
            match page.next {
                Some(next) => q.start_after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, keys);
    }

    #[test]
    fn prefix_and_cursor_bound_the_listing() {
        let store = store_with(&["a", "b/1", "b/2", "b/3", "c"]);
        let page = store.list(&query("b/", 2), 0);
        assert_eq!(names(&page), vec!["b/1", "b/2"]);
        assert_eq!(page.next.as_deref(), Some("b/2"));
        let page = store.list(
            &ListQuery {
                start_after: Some("b/2".into()),
                ..query("b/", 2)
            },
            0,
        );
        assert_eq!(names(&page), vec!["b/3"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_delimiter_lists_one_level() {
        let store = store_with(&["d/a", "d/b/1", "d/b/2", "d/c/x/y", "d/z", "e"]);
        let one_level = ListQuery {
            delimiter: Some('/'),
            ..query("d/", 100)
        };
        let page = store.list(&one_level, 0);
        assert_eq!(names(&page), vec!["d/a", "d/b/", "d/c/", "d/z"]);
        assert!(matches!(page.items[1], ListItem::Prefix(_)));
        // Paging through it with a common prefix as the cursor.
        let first = store.list(
            &ListQuery {
                limit: 2,
                ..one_level.clone()
            },
            0,
        );
        assert_eq!(names(&first), vec!["d/a", "d/b/"]);
        let second = store.list(
            &ListQuery {
                limit: 2,
                start_after: first.next.clone(),
                ..one_level
            },
            0,
        );
        assert_eq!(names(&second), vec!["d/c/", "d/z"]);
    }

    #[test]
    fn the_byte_cap_shortens_a_page_but_never_to_nothing() {
        let store = store_with(&["aaaa", "bbbb", "cccc"]);
        let page = store.list(
            &ListQuery {
                max_bytes: 9,
                ..query("", 100)
            },
            0,
        );
        assert_eq!(names(&page), vec!["aaaa"]);
        assert_eq!(page.next.as_deref(), Some("aaaa"));
        let tiny = store.list(
            &ListQuery {
                max_bytes: 1,
                ..query("", 100)
            },
            0,
        );
        assert_eq!(names(&tiny), vec!["aaaa"]);
    }
}
