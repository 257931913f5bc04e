//! What the listing and transaction tests share: reading pages, sending
//! transactions, watching from a revision, restarting in a directory.

pub(crate) use std::collections::{BTreeMap, BTreeSet};
pub(crate) use std::fmt::Write as _;
pub(crate) use std::io::{BufRead, BufReader};
pub(crate) use std::path::Path;
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub(crate) use std::sync::{mpsc, Arc, Mutex};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use base64::Engine as _;
pub(crate) use kv_client::KvClient;
pub(crate) use kv_testkit::http::{get, post_json, request};
pub(crate) use kv_testkit::{Lcg, TestServer};
pub(crate) use serde_json::{json, Value};

pub(crate) use crate::feed_support::client_of;
pub(crate) use crate::start;

/// How long any wait in these tests may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);
/// The server's default most comparisons plus operations per transaction.
pub(crate) const MAX_TXN_OPS: usize = 128;

// ---------------------------------------------------------------- helpers

/// `text` percent-encoded for a query string (everything but unreserved).
pub(crate) fn enc(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) entries: Vec<Value>,
    pub(crate) prefixes: Vec<String>,
    pub(crate) next: Option<String>,
    pub(crate) rev: u64,
}

impl Page {
    pub(crate) fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|e| key_of(e).to_owned()).collect()
    }

    /// Entry keys and common prefixes, merged in order.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names = self.keys();
        names.extend(self.prefixes.iter().cloned());
        names.sort();
        names
    }

    /// Bytes of keys and values, as the server's cap counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.entries.iter().map(entry_bytes).sum::<usize>()
            + self.prefixes.iter().map(String::len).sum::<usize>()
    }
}

pub(crate) fn key_of(entry: &Value) -> &str {
    entry["key"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without a key: {entry}"))
}

/// The bytes of an entry's key and value (decoded).
pub(crate) fn entry_bytes(entry: &Value) -> usize {
    key_of(entry).len() + value_bytes(entry).len()
}

/// The bytes of a listed or read entry's value, decoding base64.
pub(crate) fn value_bytes(entry: &Value) -> Vec<u8> {
    let value = entry["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no value in {entry}"));
    match entry["encoding"].as_str() {
        Some("utf8") => value.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap_or_else(|e| panic!("bad base64 in {entry}: {e}")),
        other => panic!("unknown encoding {other:?} in {entry}"),
    }
}

pub(crate) fn u64_of(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

/// `GET /v1/kv?QUERY`, which must answer 200.
pub(crate) fn list_page(server: &TestServer, query: &str) -> Page {
    let reply = get(&server.url(&format!("/v1/kv?{query}")));
    assert_eq!(reply.status, 200, "GET /v1/kv?{query}: {}", reply.body);
    let body = reply.json();
    let entries = body["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries array in {body}"))
        .clone();
    let prefixes = match &body["prefixes"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|p| p.as_str().expect("a prefix is a string").to_owned())
            .collect(),
        other => panic!("prefixes is not an array: {other}"),
    };
    let next = match &body["next"] {
        Value::Null => None,
        Value::String(next) => Some(next.clone()),
        other => panic!("next is neither null nor a string: {other}"),
    };
    assert!(
        body.as_object().is_some_and(|o| o.contains_key("next")),
        "next must be present (null on the last page): {body}"
    );
    Page {
        entries,
        prefixes,
        next,
        rev: u64_of(&body["rev"], "rev"),
    }
}

/// Follows `next` through the listing of `query` (which has no
/// `start_after`) with pages of at most `limit` items, calling `between`
/// before each page after the first. Checks that every page is non-empty
/// (unless the listing is),
/// within `limit`, sorted and after the previous page, that `next` names
/// its last item, and that only the last page has no `next`.
pub(crate) fn walk(
    server: &TestServer,
    query: &str,
    limit: usize,
    mut between: impl FnMut(&Page),
) -> Vec<Page> {
    let mut pages: Vec<Page> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = format!("{query}&limit={limit}");
        if let Some(after) = &after {
            if let Some(last) = pages.last() {
                between(last);
            }
            let _ = write!(q, "&start_after={}", enc(after));
        }
        let page = list_page(server, &q);
        let names = page.names();
        let at = pages.len();
        // Only an empty listing has an empty page: its only one.
        assert!(
            !names.is_empty() || (at == 0 && page.next.is_none()),
            "page {at} of {query:?} is empty"
        );
        assert!(names.len() <= limit, "page {at} has {} items", names.len());
        for pair in names.windows(2) {
            assert!(
                pair[0] < pair[1],
                "page {at}: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
        let keys = page.keys();
        for pair in keys.windows(2) {
            assert!(
                pair[0] < pair[1],
                "page {at} entries: {pair:?} out of order"
            );
        }
        if let Some(after) = &after {
            assert!(
                names[0] > *after,
                "page {at} starts with {:?}, not after the cursor {after:?}",
                names[0]
            );
        }
        if let Some(previous) = pages.last() {
            assert!(page.rev >= previous.rev, "page {at}: rev went back");
        }
        let done = page.next.is_none();
        if let Some(next) = &page.next {
            assert_eq!(
                Some(next),
                names.last(),
                "page {at}: next is not its last item"
            );
        }
        after.clone_from(&page.next);
        pages.push(page);
        if done {
            return pages;
        }
    }
}

pub(crate) fn all_keys(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(Page::keys).collect()
}

/// `POST /v1/txn`, which must answer 200.
pub(crate) fn txn(server: &TestServer, body: &Value) -> Value {
    let reply = post_json(&server.url("/v1/txn"), body);
    assert_eq!(reply.status, 200, "txn {body}: {}", reply.body);
    reply.json()
}

/// `POST /v1/txn`, which must be refused with 400; returns the message.
pub(crate) fn txn_refused(server: &TestServer, body: &Value) -> String {
    let reply = post_json(&server.url("/v1/txn"), body);
    assert_eq!(
        reply.status, 400,
        "txn {body} was not refused: {}",
        reply.body
    );
    assert_eq!(reply.error_code(), "bad_request", "{}", reply.body);
    reply.json()["error"]["message"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

/// Writes `pairs` in transactions of at most [`MAX_TXN_OPS`] puts; returns
/// the last revision.
pub(crate) fn put_all(server: &TestServer, pairs: &[(String, String)]) -> u64 {
    let mut rev = 0;
    for chunk in pairs.chunks(MAX_TXN_OPS) {
        let success: Vec<Value> = chunk
            .iter()
            .map(|(k, v)| json!({"put": {"key": k, "value": v}}))
            .collect();
        let answer = txn(server, &json!({ "success": success }));
        assert_eq!(answer["succeeded"], json!(true));
        rev = u64_of(&answer["rev"], "rev");
    }
    rev
}

/// The store's revision, from an empty listing.
pub(crate) fn store_rev(server: &TestServer) -> u64 {
    list_page(server, "prefix=~nothing~&limit=1").rev
}

/// Every entry of the store, by key, through the listing.
pub(crate) fn everything(server: &TestServer) -> BTreeMap<String, Value> {
    walk(server, "prefix=", 1000, |_| {})
        .into_iter()
        .flat_map(|p| p.entries)
        .map(|e| (key_of(&e).to_owned(), e))
        .collect()
}

/// `DELETE /v1/kv?QUERY`: status and body.
pub(crate) fn delete_prefix(server: &TestServer, query: &str) -> (u16, Value) {
    let reply = request(
        "DELETE",
        &server.url(&format!("/v1/kv?{query}")),
        None,
        None,
    );
    (reply.status, reply.json())
}

/// A watch event as sent: its `id:` line, its `event:` name and its data.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    /// Only the last event of a revision carries one.
    pub(crate) id: Option<u64>,
    pub(crate) event: String,
    pub(crate) data: Value,
}

/// Asserts `events` are one revision's: each says `rev`, and only the last
/// carries the SSE `id:` (so resuming from `Last-Event-ID` never skips part
/// of a revision).
pub(crate) fn assert_revision_ids(events: &[Sse], rev: u64) {
    let ids: Vec<Option<u64>> = events.iter().map(|e| e.id).collect();
    let mut expected = vec![None; events.len()];
    if let Some(last) = expected.last_mut() {
        *last = Some(rev);
    }
    assert_eq!(ids, expected, "{events:?}");
    for event in events {
        assert_eq!(event.data["rev"], json!(rev), "{event:?}");
    }
}

/// Opens `GET /v1/watch?from_rev=FROM` and hands its events (not the
/// progress ones) to the returned channel, from a reader thread.
pub(crate) fn watch_from(server: &TestServer, from: u64) -> mpsc::Receiver<Sse> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = server.url(&format!("/v1/watch?from_rev={from}"));
    let response = agent
        .get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let reader = BufReader::new(response.into_body().into_reader());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut id, mut event, mut data) = (None::<u64>, String::new(), String::new());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if !data.is_empty() && event != "progress" {
                    let sse = Sse {
                        id,
                        event: std::mem::take(&mut event),
                        data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    };
                    if tx.send(sse).is_err() {
                        return;
                    }
                }
                (id, event, data) = (None, String::new(), String::new());
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => id = value.parse().ok(),
                "event" => event = value.to_owned(),
                "data" => data.push_str(value),
                _ => {}
            }
        }
    });
    rx
}

/// Receives events until one at revision `stop` or later (a marker written
/// after what is checked); returns those before it. Fails after
/// [`DEADLINE`].
pub(crate) fn events_before(events: &mpsc::Receiver<Sse>, stop: u64) -> Vec<Sse> {
    let deadline = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no event at revision {stop} in time ({e}); got {got:?}"));
        assert_ne!(event.event, "cut", "the watch was cut: {event:?}");
        let rev = event.data["rev"].as_u64().expect("a revision");
        if rev >= stop {
            assert_eq!(rev, stop, "the marker's revision: {event:?}");
            return got;
        }
        got.push(event);
    }
}

/// A marker write whose revision ends what a watcher must have seen.
pub(crate) fn marker(server: &TestServer) -> u64 {
    let answer = txn(
        server,
        &json!({"success": [{"put": {"key": "~marker", "value": "m"}}]}),
    );
    u64_of(&answer["rev"], "marker rev")
}

/// Polls `done` until it holds, failing after [`DEADLINE`].
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub(crate) fn start_in(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start_in(env!("CARGO_BIN_EXE_server"), dir, args, &[])
}

// ---------------------------------------------------------------- listing
