//! Reading the server's watch stream (Server-Sent Events).

use std::io::{self, BufRead, BufReader, Read};

use kv_core::api::{WatchCut, WatchEvent, WatchProgress};

/// What to watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchParams {
    /// Only this key.
    pub key: Option<String>,
    /// Only keys with this prefix.
    pub prefix: Option<String>,
    /// Only these ops, comma-separated (`set,rm,expire`).
    pub ops: Option<String>,
    /// Include previous values.
    pub prev: bool,
}

impl WatchParams {
    /// The query parameters.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(key) = &self.key {
            query.push(("key", key.clone()));
        }
        if let Some(prefix) = &self.prefix {
            query.push(("prefix", prefix.clone()));
        }
        if let Some(ops) = &self.ops {
            query.push(("ops", ops.clone()));
        }
        if self.prev {
            query.push(("prev", "true".into()));
        }
        query
    }
}

/// One item of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// A committed change.
    Event(WatchEvent),
    /// The watcher is up to date with this revision.
    Progress(u64),
    /// The server cut the stream off; resume from the revision it names.
    Cut(WatchCut),
}

/// A watch stream: an iterator of [`WatchItem`]s that ends when the server
/// closes the stream.
pub struct WatchStream {
    reader: BufReader<Box<dyn Read + Send>>,
    line: String,
    /// The `id:` of the last item read, if it had one.
    last_id: Option<u64>,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

impl WatchStream {
    /// Parses Server-Sent Events from `body`.
    pub fn new(body: Box<dyn Read + Send>) -> Self {
        Self {
            reader: BufReader::new(body),
            line: String::new(),
            last_id: None,
        }
    }

    /// The `id:` of the item last returned, if it had one. The server gives
    /// an event an id only when it is the last of its revision, so an event
    /// without one is followed by more of the same revision; resuming from
    /// the last id seen never skips part of a revision.
    pub fn last_id(&self) -> Option<u64> {
        self.last_id
    }

    /// Reads the next event block; `None` at the end of the stream.
    fn next_block(&mut self) -> io::Result<Option<(String, String)>> {
        let mut event = String::new();
        let mut data = String::new();
        self.last_id = None;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                return Ok(None);
            }
            let line = self.line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return Ok(Some((event, data)));
                }
                event.clear();
                self.last_id = None;
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = value.to_owned(),
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                "id" => self.last_id = value.trim().parse().ok(),
                // `retry` and comments carry nothing the data lacks.
                _ => {}
            }
        }
    }
}

impl Iterator for WatchStream {
    type Item = io::Result<WatchItem>;

    fn next(&mut self) -> Option<Self::Item> {
        let (event, data) = match self.next_block() {
            Ok(Some(block)) => block,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let invalid = |e: serde_json::Error| io::Error::new(io::ErrorKind::InvalidData, e);
        Some(match event.as_str() {
            "progress" => serde_json::from_str::<WatchProgress>(&data)
                .map(|p| WatchItem::Progress(p.rev))
                .map_err(invalid),
            "cut" => serde_json::from_str::<WatchCut>(&data)
                .map(WatchItem::Cut)
                .map_err(invalid),
            _ => serde_json::from_str::<WatchEvent>(&data)
                .map(WatchItem::Event)
                .map_err(invalid),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_progress_and_cut() {
        let text = "retry: 1000\nid: 0\nevent: progress\ndata: {\"rev\":0}\n\n\
                    : a comment\nid: 1\nevent: set\ndata: {\"rev\":1,\"op\":\"set\",\"key\":\"k\",\"val\":\"v\"}\n\n\
                    event: cut\ndata: {\"resume_from_rev\":2,\"reason\":\"slow\"}\n\n";
        let mut stream = WatchStream::new(Box::new(io::Cursor::new(text)));
        let mut items = Vec::new();
        let mut ids = Vec::new();
        while let Some(item) = stream.next() {
            items.push(item.expect("parses"));
            ids.push(stream.last_id());
        }
        assert_eq!(ids, vec![Some(0), Some(1), None]);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], WatchItem::Progress(0));
        let WatchItem::Event(event) = &items[1] else {
            panic!("{:?}", items[1]);
        };
        assert_eq!((event.rev, event.val.as_deref()), (1, Some("v")));
        assert!(matches!(&items[2], WatchItem::Cut(c) if c.resume_from_rev == 2));
    }
}
