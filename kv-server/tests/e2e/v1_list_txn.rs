//! Listing (`GET /v1/kv?prefix=`), delete by prefix (`DELETE /v1/kv?prefix=`)
//! and transactions (`POST /v1/txn`), end to end over HTTP against the real
//! binary: pages cover every key exactly once and in order (10,000 keys, a
//! byte cap, writes going on meanwhile, a delimiter); a prefix delete removes
//! exactly its keys at one revision that watchers see and a restart keeps;
//! transactions pick a branch, commit at one revision, refuse malformed
//! parts by name, and lose no transfer under concurrency.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kv_client::KvClient;
use kv_testkit::http::{get, post_json, request};
use kv_testkit::{Lcg, TestServer};
use serde_json::{json, Value};

use crate::feed_support::client_of;
use crate::start;

/// How long any wait in these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);
/// The server's default most comparisons plus operations per transaction.
const MAX_TXN_OPS: usize = 128;

// ---------------------------------------------------------------- helpers

/// `text` percent-encoded for a query string (everything but unreserved).
fn enc(text: &str) -> String {
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
struct Page {
    entries: Vec<Value>,
    prefixes: Vec<String>,
    next: Option<String>,
    rev: u64,
}

impl Page {
    fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|e| key_of(e).to_owned()).collect()
    }

    /// Entry keys and common prefixes, merged in order.
    fn names(&self) -> Vec<String> {
        let mut names = self.keys();
        names.extend(self.prefixes.iter().cloned());
        names.sort();
        names
    }

    /// Bytes of keys and values, as the server's cap counts them.
    fn bytes(&self) -> usize {
        self.entries.iter().map(entry_bytes).sum::<usize>()
            + self.prefixes.iter().map(String::len).sum::<usize>()
    }
}

fn key_of(entry: &Value) -> &str {
    entry["key"]
        .as_str()
        .unwrap_or_else(|| panic!("an entry without a key: {entry}"))
}

/// The bytes of an entry's key and value (decoded).
fn entry_bytes(entry: &Value) -> usize {
    key_of(entry).len() + value_bytes(entry).len()
}

/// The bytes of a listed or read entry's value, decoding base64.
fn value_bytes(entry: &Value) -> Vec<u8> {
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

fn u64_of(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

/// `GET /v1/kv?QUERY`, which must answer 200.
fn list_page(server: &TestServer, query: &str) -> Page {
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
fn walk(
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

fn all_keys(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(Page::keys).collect()
}

/// `POST /v1/txn`, which must answer 200.
fn txn(server: &TestServer, body: &Value) -> Value {
    let reply = post_json(&server.url("/v1/txn"), body);
    assert_eq!(reply.status, 200, "txn {body}: {}", reply.body);
    reply.json()
}

/// `POST /v1/txn`, which must be refused with 400; returns the message.
fn txn_refused(server: &TestServer, body: &Value) -> String {
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
fn put_all(server: &TestServer, pairs: &[(String, String)]) -> u64 {
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
fn store_rev(server: &TestServer) -> u64 {
    list_page(server, "prefix=~nothing~&limit=1").rev
}

/// Every entry of the store, by key, through the listing.
fn everything(server: &TestServer) -> BTreeMap<String, Value> {
    walk(server, "prefix=", 1000, |_| {})
        .into_iter()
        .flat_map(|p| p.entries)
        .map(|e| (key_of(&e).to_owned(), e))
        .collect()
}

/// `DELETE /v1/kv?QUERY`: status and body.
fn delete_prefix(server: &TestServer, query: &str) -> (u16, Value) {
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
struct Sse {
    /// Only the last event of a revision carries one.
    id: Option<u64>,
    event: String,
    data: Value,
}

/// Asserts `events` are one revision's: each says `rev`, and only the last
/// carries the SSE `id:` (so resuming from `Last-Event-ID` never skips part
/// of a revision).
fn assert_revision_ids(events: &[Sse], rev: u64) {
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
fn watch_from(server: &TestServer, from: u64) -> mpsc::Receiver<Sse> {
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
fn events_before(events: &mpsc::Receiver<Sse>, stop: u64) -> Vec<Sse> {
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
fn marker(server: &TestServer) -> u64 {
    let answer = txn(
        server,
        &json!({"success": [{"put": {"key": "~marker", "value": "m"}}]}),
    );
    u64_of(&answer["rev"], "marker rev")
}

/// Polls `done` until it holds, failing after [`DEADLINE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn start_in(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start_in(env!("CARGO_BIN_EXE_server"), dir, args, &[])
}

// ---------------------------------------------------------------- listing

#[test]
fn pages_cover_ten_thousand_keys_exactly_once_in_order() {
    let server = start(&["--fsync", "no"]);
    let pairs: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("page/{i:05}"), format!("v{i}")))
        .collect();
    // Loaded by 4 threads, in transactions of 128 puts.
    std::thread::scope(|scope| {
        for part in pairs.chunks(2_500) {
            let server = &server;
            scope.spawn(move || put_all(server, part));
        }
    });
    // Neighbours the prefix must leave out, on both sides of its range.
    let outside = ["page", "page.x", "page0", "pagd/1", "pagf", "pa"];
    let neighbours: Vec<(String, String)> = outside
        .iter()
        .map(|k| ((*k).to_owned(), "out".to_owned()))
        .collect();
    put_all(&server, &neighbours);
    let expected: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();

    // Pages of 1000: ten full pages, the tenth with next null.
    let pages = walk(&server, "prefix=page%2F", 1000, |_| {});
    assert_eq!(pages.len(), 10, "10,000 keys in pages of 1000");
    assert!(pages.iter().all(|p| p.entries.len() == 1000));
    assert_eq!(all_keys(&pages), expected, "every key once, in order");
    for (entry, (key, value)) in pages.iter().flat_map(|p| &p.entries).zip(&pairs) {
        assert_eq!(key_of(entry), key);
        assert_eq!(entry["value"], json!(value), "{entry}");
        assert_eq!(entry["encoding"], json!("utf8"), "{entry}");
        assert_eq!(entry["version"], json!(1), "{entry}");
        assert_eq!(entry["create_rev"], entry["mod_rev"], "{entry}");
    }

    // No limit: the default of 100.
    let default = list_page(&server, "prefix=page%2F");
    assert_eq!(default.entries.len(), 100);
    assert_eq!(default.next.as_deref(), Some("page/00099"));

    // A small limit on a subset: 100 keys in pages of 7.
    let subset = walk(&server, "prefix=page%2F001", 7, |_| {});
    let sizes: Vec<usize> = subset.iter().map(|p| p.entries.len()).collect();
    let mut expected_sizes = vec![7; 14];
    expected_sizes.push(2);
    assert_eq!(sizes, expected_sizes);
    assert_eq!(all_keys(&subset), expected[100..200].to_vec());

    // A cursor before the prefix starts at the prefix; one past the end
    // gives an empty last page.
    let before = list_page(&server, "prefix=page%2F&limit=2&start_after=a");
    assert_eq!(before.keys(), vec!["page/00000", "page/00001"]);
    let past = list_page(&server, "prefix=page%2F&limit=2&start_after=page%2F99999");
    assert!(past.entries.is_empty() && past.next.is_none());

    // The whole store: the prefix's keys plus the neighbours, in order.
    let mut every: Vec<String> = expected.clone();
    every.extend(outside.iter().map(|k| (*k).to_owned()));
    every.sort();
    assert_eq!(all_keys(&walk(&server, "prefix=", 1000, |_| {})), every);

    // Limits outside 1..=1000 are refused.
    for bad in ["0", "1001", "-1", "many"] {
        let reply = get(&server.url(&format!("/v1/kv?prefix=page%2F&limit={bad}")));
        assert_eq!(reply.status, 400, "limit={bad}: {}", reply.body);
        assert_eq!(reply.error_code(), "bad_request");
    }
    let reply = get(&server.url("/v1/kv?prefix=page%2F&colour=red"));
    assert_eq!(reply.status, 400, "an unknown parameter: {}", reply.body);

    // keys_only leaves the values out but keeps the metadata.
    let keys_only = list_page(&server, "prefix=page%2F&limit=5&keys_only=true");
    assert_eq!(keys_only.keys(), expected[..5].to_vec());
    for entry in &keys_only.entries {
        let fields = entry.as_object().expect("an object");
        assert!(!fields.contains_key("value"), "{entry}");
        assert!(!fields.contains_key("encoding"), "{entry}");
        assert!(entry["mod_rev"].as_u64().is_some_and(|r| r > 0), "{entry}");
    }

    // A transaction over the op limit is refused whole.
    let many: Vec<Value> = (0..=MAX_TXN_OPS)
        .map(|i| json!({"put": {"key": format!("over/{i}"), "value": "x"}}))
        .collect();
    let message = txn_refused(&server, &json!({ "success": many }));
    assert!(message.contains("over the limit of 128"), "{message}");
    assert!(list_page(&server, "prefix=over%2F").entries.is_empty());
}

#[test]
fn values_that_are_not_utf8_list_as_base64() {
    let server = start(&[]);
    let binary = [0xff_u8, 0xfe, 0x00, 0x01, 0x80];
    let reply = request("PUT", &server.url("/v1/kv/bin/raw"), None, Some(&binary));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = request(
        "PUT",
        &server.url("/v1/kv/bin/text"),
        None,
        Some("héllo".as_bytes()),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    let page = list_page(&server, "prefix=bin%2F");
    assert_eq!(page.keys(), vec!["bin/raw", "bin/text"]);
    let raw = &page.entries[0];
    assert_eq!(raw["encoding"], json!("base64"), "{raw}");
    assert_eq!(
        raw["value"],
        json!(base64::engine::general_purpose::STANDARD.encode(binary))
    );
    assert_eq!(value_bytes(raw), binary);
    assert_eq!(page.entries[1]["encoding"], json!("utf8"));
    assert_eq!(page.entries[1]["value"], json!("héllo"));
}

#[test]
fn the_byte_cap_shortens_pages_and_they_still_cover_everything() {
    let server = start(&["--list-max-bytes", "1000", "--fsync", "no"]);
    let value = "x".repeat(100);
    let mut pairs: Vec<(String, String)> = (0..500)
        .map(|i| (format!("cap/{i:04}"), value.clone()))
        .collect();
    // One entry alone over the cap still makes a page.
    pairs.push(("cap/0100big".to_owned(), "y".repeat(2000)));
    pairs.sort();
    put_all(&server, &pairs);
    let expected: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();

    let pages = walk(&server, "prefix=cap%2F", 1000, |_| {});
    assert_eq!(all_keys(&pages), expected, "every key once, in order");
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.bytes() <= 1000 || page.entries.len() == 1,
            "page {i} holds {} bytes in {} entries",
            page.bytes(),
            page.entries.len()
        );
        // Not cut shorter than the cap asks: the next page's first entry
        // would not have fitted.
        if let Some(following) = pages.get(i + 1) {
            let first = entry_bytes(&following.entries[0]);
            assert!(
                page.bytes() + first > 1000,
                "page {i} stopped at {} bytes though {first} more fit",
                page.bytes()
            );
        }
    }
    // 108-byte entries (8-byte keys, 100-byte values): 9 to a page.
    assert_eq!(pages[0].entries.len(), 9);
    let big = pages
        .iter()
        .find(|p| p.keys().contains(&"cap/0100big".to_owned()))
        .expect("the big entry is listed");
    assert_eq!(big.entries.len(), 1, "the big entry has a page of its own");
    assert_eq!(value_bytes(&big.entries[0]).len(), 2000);
    let nines = pages.iter().filter(|p| p.entries.len() == 9).count();
    assert!(nines >= 50, "only {nines} pages of 9 among {}", pages.len());

    // A smaller limit still wins.
    let small = walk(&server, "prefix=cap%2F02", 4, |_| {});
    assert!(small.iter().all(|p| p.entries.len() == 4));
    let under: Vec<String> = expected
        .iter()
        .filter(|k| k.starts_with("cap/02"))
        .cloned()
        .collect();
    assert_eq!(all_keys(&small), under);
}

#[test]
fn pages_stay_exact_while_writes_go_on() {
    let server = start(&["--fsync", "no"]);
    let before: Vec<String> = (0..3000).map(|i| format!("live/{i:05}")).collect();
    let pairs: Vec<(String, String)> = before.iter().map(|k| (k.clone(), "0".into())).collect();
    put_all(&server, &pairs);
    // Keys ending in 9 may be deleted during the listing; the others must
    // all be listed, exactly once.
    let doomed: Vec<String> = before
        .iter()
        .filter(|k| k.ends_with('9'))
        .cloned()
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let created = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let writer = {
        let client = client_of(&server);
        let (stop, committed) = (Arc::clone(&stop), Arc::clone(&committed));
        let (deleted, created) = (Arc::clone(&deleted), Arc::clone(&created));
        std::thread::spawn(move || {
            let mut rng = Lcg(7);
            let mut last: BTreeMap<String, String> = BTreeMap::new();
            let mut doomed = doomed.into_iter();
            let mut n = 0u64;
            while !stop.load(Ordering::Acquire) {
                n += 1;
                // Modify a key that stays (not ending in 9).
                let kept = format!("live/{:04}{}", rng.draw() % 300, rng.draw() % 9);
                let mut ops = vec![
                    json!({"put": {"key": format!("other/{n:06}"), "value": n.to_string()}}),
                    json!({"put": {"key": kept, "value": n.to_string()}}),
                ];
                last.insert(kept, n.to_string());
                if n.is_multiple_of(3) {
                    if let Some(gone) = doomed.next() {
                        deleted.lock().expect("lock").insert(gone.clone());
                        last.insert(gone.clone(), String::new());
                        ops.push(json!({"delete": {"key": gone}}));
                    }
                    let new = format!("live/{:05}.new{n}", rng.draw() % 3000);
                    created.lock().expect("lock").insert(new.clone());
                    last.insert(new.clone(), n.to_string());
                    ops.push(json!({"put": {"key": new, "value": n.to_string()}}));
                }
                let answer = client.txn(&json!({ "success": ops })).expect("writer txn");
                assert!(answer.succeeded);
                committed.fetch_add(1, Ordering::AcqRel);
            }
            last
        })
    };

    // Page through while the writer runs, letting it commit between pages.
    let mut seen_commits = committed.load(Ordering::Acquire);
    let pages = walk(&server, "prefix=live%2F", 25, |_| {
        wait_until("a write between pages", || {
            committed.load(Ordering::Acquire) > seen_commits
        });
        seen_commits = committed.load(Ordering::Acquire);
    });
    stop.store(true, Ordering::Release);
    let last = writer.join().expect("the writer");
    let deleted = deleted.lock().expect("lock").clone();
    let created = created.lock().expect("lock").clone();
    assert!(pages.len() >= 110, "{} pages", pages.len());
    assert!(deleted.len() >= 30, "only {} deletions ran", deleted.len());

    let listed = all_keys(&pages);
    for pair in listed.windows(2) {
        assert!(pair[0] < pair[1], "{pair:?}: out of order or twice");
    }
    let listed_set: BTreeSet<&String> = listed.iter().collect();
    for key in &before {
        if !deleted.contains(key) {
            assert!(
                listed_set.contains(key),
                "{key} existed throughout but was not listed"
            );
        }
    }
    for key in &listed {
        assert!(
            before.contains(key) || created.contains(key),
            "{key} was listed but never written under live/"
        );
    }
    for entry in pages.iter().flat_map(|p| &p.entries) {
        let value = entry["value"].as_str().expect("a value");
        assert!(value == "0" || value.parse::<u64>().is_ok(), "{entry}");
    }

    // Once the writes stop, a listing is exactly the final state.
    let mut expected: BTreeMap<String, String> =
        before.iter().map(|k| (k.clone(), "0".to_owned())).collect();
    for (key, value) in last {
        if value.is_empty() {
            expected.remove(&key);
        } else {
            expected.insert(key, value);
        }
    }
    let now: BTreeMap<String, String> = walk(&server, "prefix=live%2F", 1000, |_| {})
        .into_iter()
        .flat_map(|p| p.entries)
        .map(|e| {
            (
                key_of(&e).to_owned(),
                e["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    assert!(
        now == expected,
        "the settled listing differs from what was written"
    );
}

#[test]
fn a_delimiter_lists_one_level_and_its_cursor_skips_a_common_prefix() {
    let server = start(&["--fsync", "no"]);
    let mut keys: Vec<String> = vec![
        "d".into(),
        "d0/x".into(),
        "e/x".into(),
        "c".into(),
        "d/b".into(),
        "d/b/3/x".into(),
    ];
    let mut entries = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for (i, c) in ('a'..='t').enumerate() {
        if i % 2 == 0 {
            keys.push(format!("d/{c}"));
            entries.insert(format!("d/{c}"));
        } else {
            for j in 0..30 {
                keys.push(format!("d/{c}/{j:02}"));
                keys.push(format!("d/{c}/{j:02}/deep/er"));
            }
            prefixes.insert(format!("d/{c}/"));
        }
    }
    entries.insert("d/b".into());
    let pairs: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("={k}"))).collect();
    put_all(&server, &pairs);

    // One level under d/, in one page.
    let page = list_page(&server, "prefix=d%2F&delimiter=%2F&limit=1000");
    assert_eq!(
        page.keys().into_iter().collect::<BTreeSet<_>>(),
        entries,
        "the entries of the level"
    );
    assert_eq!(
        page.prefixes.iter().cloned().collect::<BTreeSet<_>>(),
        prefixes,
        "the common prefixes"
    );
    assert_eq!(page.prefixes.len(), prefixes.len(), "each prefix once");
    assert!(page.next.is_none());
    for entry in &page.entries {
        assert_eq!(entry["value"], json!(format!("={}", key_of(entry))));
    }

    // Paged three items at a time, a common prefix as the cursor skips the
    // keys under it: the same items, each once.
    let mut expected: Vec<String> = entries.iter().chain(&prefixes).cloned().collect();
    expected.sort();
    let pages = walk(&server, "prefix=d%2F&delimiter=%2F", 3, |_| {});
    let got: Vec<String> = pages.iter().flat_map(Page::names).collect();
    assert_eq!(got, expected);
    assert!(pages.iter().rev().skip(1).all(|p| p.names().len() == 3));
    assert!(
        pages
            .iter()
            .any(|p| p.next.as_deref().is_some_and(|n| n.ends_with('/'))),
        "some page ends on a common prefix"
    );
    let after = list_page(
        &server,
        "prefix=d%2F&delimiter=%2F&limit=2&start_after=d%2Fd%2F",
    );
    assert_eq!(after.names(), vec!["d/e", "d/f/"]);

    // One level deeper; and the top level.
    let deeper = list_page(&server, "prefix=d%2Fb%2F&delimiter=%2F&limit=1000");
    let mut under_b: Vec<String> = (0..30).map(|j| format!("d/b/{j:02}")).collect();
    under_b.sort();
    assert_eq!(deeper.keys(), under_b);
    let mut deeper_prefixes: Vec<String> = (0..30).map(|j| format!("d/b/{j:02}/")).collect();
    deeper_prefixes.push("d/b/3/".into());
    deeper_prefixes.sort();
    assert_eq!(deeper.prefixes, deeper_prefixes);
    let top = list_page(&server, "prefix=&delimiter=%2F&limit=1000");
    assert_eq!(top.keys(), vec!["c", "d"]);
    assert_eq!(top.prefixes, vec!["d/", "d0/", "e/"]);

    // A delimiter is one character.
    let reply = get(&server.url("/v1/kv?prefix=d%2F&delimiter=%2F%2F"));
    assert_eq!(reply.status, 400, "{}", reply.body);
}

// ------------------------------------------------------- delete by prefix

#[test]
fn delete_by_prefix_removes_exactly_its_keys_at_one_revision() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &[]);
    let mut pairs: Vec<(String, String)> = (0..60)
        .map(|i| (format!("p/{i:02}"), format!("v{i}")))
        .collect();
    pairs.push(("p/sub/deep".into(), "d".into()));
    let doomed: BTreeSet<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    for other in ["p", "p2", "p2/x", "p.x", "q/1", "q/2", "o/z"] {
        pairs.push((other.into(), format!("kept {other}")));
    }
    put_all(&server, &pairs);
    let before = store_rev(&server);

    let (status, body) = delete_prefix(&server, "prefix=p%2F");
    assert_eq!(status, 200, "{body}");
    let rev = before + 1;
    assert_eq!(body, json!({"deleted": doomed.len(), "rev": rev}));

    // The watcher sees one rm per removed key, all at that revision.
    let events = watch_from(&server, rev);
    let stop = marker(&server);
    let got = events_before(&events, stop);
    assert_eq!(got.len(), doomed.len(), "{got:?}");
    let mut removed = BTreeSet::new();
    assert_revision_ids(&got, rev);
    for event in &got {
        assert_eq!(event.event, "rm", "{event:?}");
        assert_eq!(event.data["rev"], json!(rev), "{event:?}");
        assert_eq!(event.data["op"], json!("rm"), "{event:?}");
        removed.insert(event.data["key"].as_str().expect("a key").to_owned());
    }
    assert_eq!(removed, doomed, "one rm per removed key");

    let kept: BTreeMap<String, String> = pairs
        .iter()
        .filter(|(k, _)| !doomed.contains(k))
        .cloned()
        .chain([("~marker".to_owned(), "m".to_owned())])
        .collect();
    let check_kept = |server: &TestServer, when: &str| {
        let now = everything(server);
        let now: BTreeMap<String, String> = now
            .iter()
            .map(|(k, e)| (k.clone(), e["value"].as_str().expect("value").to_owned()))
            .collect();
        assert!(
            now == kept,
            "{when}: the store holds {now:?}, expected {kept:?}"
        );
    };
    check_kept(&server, "after the delete");

    // Nothing under the prefix: deleted 0 at the current revision.
    let current = store_rev(&server);
    let (status, body) = delete_prefix(&server, "prefix=p%2F");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": 0, "rev": current}));
    assert_eq!(store_rev(&server), current);

    // An empty or missing prefix needs all=true.
    for query in ["prefix=", "", "prefix=&all=false", "all=false"] {
        let (status, body) = delete_prefix(&server, query);
        assert_eq!(status, 400, "DELETE /v1/kv?{query}: {body}");
        assert_eq!(body["error"]["code"], json!("bad_request"), "{body}");
    }
    assert_eq!(store_rev(&server), current);
    check_kept(&server, "after the refused deletes");

    // A crash keeps the removals.
    server.kill();
    let mut server = start_in(dir.path(), &[]);
    check_kept(&server, "after a restart");
    assert_eq!(store_rev(&server), current);

    // all=true removes everything, and that survives a restart too.
    let (status, body) = delete_prefix(&server, "all=true");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"deleted": kept.len(), "rev": current + 1}));
    assert!(everything(&server).is_empty());
    server.kill();
    let server = start_in(dir.path(), &[]);
    assert!(everything(&server).is_empty(), "removed keys came back");
    assert_eq!(store_rev(&server), current + 1);
    assert_eq!(
        marker(&server),
        current + 2,
        "revisions go on after a restart"
    );
}

#[test]
fn a_prefix_delete_is_atomic_among_concurrent_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &["--fsync", "no"]);
    let written = Arc::new(AtomicU64::new(0));
    let (puts, deletes) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (client, written) = (client_of(&server), Arc::clone(&written));
                scope.spawn(move || {
                    (0..300)
                        .map(|i| {
                            let key = format!("w/{t}/{i:03}");
                            let rev = client.set(&key, "v").expect("set").rev;
                            written.fetch_add(1, Ordering::AcqRel);
                            (key, rev)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let client = client_of(&server);
        let mut deletes = Vec::new();
        for quarter in 1..=3 {
            wait_until("writes before a delete", || {
                written.load(Ordering::Acquire) >= quarter * 300
            });
            let answer = client.delete_prefix("w/", false).expect("delete w/");
            deletes.push((answer.rev, answer.deleted));
        }
        let puts: Vec<(String, u64)> = writers
            .into_iter()
            .flat_map(|w| w.join().expect("a writer"))
            .collect();
        (puts, deletes)
    });
    // Each delete removed exactly the keys written since the one before.
    let mut after = 0;
    for &(rev, deleted) in &deletes {
        let between = puts
            .iter()
            .filter(|(_, r)| (after + 1..rev).contains(r))
            .count();
        assert!(
            puts.iter().all(|(_, r)| *r != rev),
            "a put shares the delete's revision {rev}"
        );
        assert_eq!(deleted, between as u64, "the delete at {rev}");
        after = rev;
    }
    assert!(deletes.iter().all(|d| d.1 > 0), "{deletes:?}");
    // What is left: exactly the keys written after the last delete.
    let expected: BTreeMap<String, u64> = puts
        .iter()
        .filter(|(_, r)| *r > after)
        .map(|(k, r)| (k.clone(), *r))
        .collect();
    let check = |server: &TestServer, when: &str| {
        let now: BTreeMap<String, u64> = everything(server)
            .into_iter()
            .map(|(k, e)| (k, u64_of(&e["mod_rev"], "mod_rev")))
            .collect();
        assert!(
            now == expected,
            "{when}: {} keys left, expected {}",
            now.len(),
            expected.len()
        );
    };
    check(&server, "after the writes");
    server.kill();
    let server = start_in(dir.path(), &[]);
    check(&server, "after a kill and a restart");
}

// ----------------------------------------------------------- transactions

/// The results of a transaction's branch.
fn results(answer: &Value) -> &Vec<Value> {
    answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {answer}"))
}

/// The entry a txn `get` returned, checking `found`.
fn got_entry(result: &Value) -> Option<&Value> {
    let get = &result["get"];
    let found = get["found"]
        .as_bool()
        .unwrap_or_else(|| panic!("not a get: {result}"));
    assert_eq!(found, !get["entry"].is_null(), "{result}");
    found.then_some(&get["entry"])
}

#[test]
fn compare_and_swap_runs_one_branch_at_one_revision() {
    let server = start(&[]);
    let created = txn(
        &server,
        &json!({"success": [{"put": {"key": "acct", "value": "100"}},
                            {"put": {"key": "gone", "value": "bye"}}]}),
    );
    assert_eq!(created["succeeded"], json!(true));
    assert_eq!(
        results(&created),
        &vec![
            json!({"put": {"created": true}}),
            json!({"put": {"created": true}})
        ]
    );
    let r1 = u64_of(&created["rev"], "rev");

    // Success: every change at one new revision.
    let cas = json!({
        "compare": [{"key": "acct", "target": "mod_rev", "op": "==", "value": r1},
                    {"key": "acct", "target": "value", "value": "100"},
                    {"key": "gone", "target": "exists", "value": true},
                    {"key": "nobody", "target": "version", "op": "==", "value": 0}],
        "success": [{"put": {"key": "acct", "value": "90"}},
                    {"put": {"key": "log/1", "value": "paid 10", "content_type": "text/plain"}},
                    {"delete": {"key": "gone"}},
                    {"get": {"key": "acct"}},
                    {"get": {"key": "gone"}}],
        "failure": [{"get": {"key": "acct"}}]
    });
    let events = watch_from(&server, r1 + 1);
    let answer = txn(&server, &cas);
    assert_eq!(answer["succeeded"], json!(true), "{answer}");
    let r2 = u64_of(&answer["rev"], "rev");
    assert_eq!(r2, r1 + 1, "one revision for the whole transaction");
    let res = results(&answer);
    assert_eq!(res.len(), 5, "{answer}");
    assert_eq!(res[0], json!({"put": {"created": false}}));
    assert_eq!(res[1], json!({"put": {"created": true}}));
    assert_eq!(res[2], json!({"delete": {"deleted": true}}));
    let acct = got_entry(&res[3]).expect("acct exists");
    assert_eq!(
        (
            &acct["value"],
            &acct["mod_rev"],
            &acct["version"],
            &acct["create_rev"]
        ),
        (&json!("90"), &json!(r2), &json!(2), &json!(r1)),
        "a get sees the branch's earlier put: {acct}"
    );
    assert!(
        got_entry(&res[4]).is_none(),
        "a get after the delete: {}",
        res[4]
    );

    let now = everything(&server);
    assert_eq!(now.keys().collect::<Vec<_>>(), vec!["acct", "log/1"]);
    for entry in now.values() {
        assert_eq!(entry["mod_rev"], json!(r2), "changed by the txn: {entry}");
    }
    assert_eq!(now["log/1"]["content_type"], json!("text/plain"));
    let stop = marker(&server);
    let got = events_before(&events, stop);
    let mut seen: Vec<(u64, String, String)> = got
        .iter()
        .map(|e| {
            (
                e.data["rev"].as_u64().expect("a revision"),
                e.event.clone(),
                e.data["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (r2, "rm".to_owned(), "gone".to_owned()),
            (r2, "set".to_owned(), "acct".to_owned()),
            (r2, "set".to_owned(), "log/1".to_owned()),
        ],
        "the watcher sees the txn's changes, all with its revision"
    );
    assert_revision_ids(&got, r2);

    // The same compare again fails: the failure branch runs, the success
    // branch does not, and a failure branch of gets changes nothing.
    let before = store_rev(&server);
    let failed = txn(&server, &cas);
    assert_eq!(failed["succeeded"], json!(false), "{failed}");
    assert_eq!(
        failed["rev"],
        json!(before),
        "nothing changed, no new revision"
    );
    let res = results(&failed);
    assert_eq!(res.len(), 1, "{failed}");
    assert_eq!(got_entry(&res[0]).expect("acct")["value"], json!("90"));
    assert_eq!(store_rev(&server), before);
    assert_eq!(everything(&server)["acct"]["mod_rev"], json!(r2));

    // A failure branch that writes commits at a new revision.
    let mut with_write = cas.clone();
    with_write["failure"] = json!([{"put": {"key": "conflicts", "value": "1"}},
                                   {"delete": {"key": "log/1"}}]);
    let failed = txn(&server, &with_write);
    assert_eq!(failed["succeeded"], json!(false));
    assert_eq!(failed["rev"], json!(before + 1));
    assert_eq!(
        results(&failed),
        &vec![
            json!({"put": {"created": true}}),
            json!({"delete": {"deleted": true}})
        ]
    );
    let now = everything(&server);
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        vec!["acct", "conflicts", "~marker"]
    );
    assert_eq!(
        now["acct"]["value"],
        json!("90"),
        "the success branch did not run"
    );

    // Comparison operators and targets, a missing key included.
    let mod_rev = r2;
    for (compare, holds) in [
        (
            json!({"key": "acct", "target": "mod_rev", "op": "!=", "value": mod_rev}),
            false,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": "<", "value": mod_rev + 1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": ">", "value": mod_rev}),
            false,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": "<=", "value": mod_rev}),
            true,
        ),
        (
            json!({"key": "acct", "target": "mod_rev", "op": ">=", "value": mod_rev + 1}),
            false,
        ),
        (
            json!({"key": "acct", "target": "create_rev", "value": r1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "version", "op": ">", "value": 1}),
            true,
        ),
        (
            json!({"key": "acct", "target": "value", "op": "<", "value": "91"}),
            true,
        ),
        (
            json!({"key": "acct", "target": "value", "value": "100"}),
            false,
        ),
        (
            json!({"key": "acct", "target": "exists", "value": false}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "exists", "value": false}),
            true,
        ),
        (
            json!({"key": "nobody", "target": "mod_rev", "value": 0}),
            true,
        ),
        (
            json!({"key": "nobody", "target": "create_rev", "op": ">", "value": 0}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "value", "value": ""}),
            false,
        ),
        (
            json!({"key": "nobody", "target": "value", "op": "!=", "value": ""}),
            true,
        ),
    ] {
        let answer = txn(
            &server,
            &json!({"compare": [compare], "success": [{"get": {"key": "acct"}}]}),
        );
        assert_eq!(answer["succeeded"], json!(holds), "{compare}");
        assert_eq!(results(&answer).len(), usize::from(holds), "{compare}");
    }
    let get_missing = txn(&server, &json!({"success": [{"get": {"key": "nobody"}}]}));
    assert_eq!(
        results(&get_missing),
        &vec![json!({"get": {"found": false}})]
    );
}

#[test]
fn a_transaction_that_changes_nothing_keeps_the_revision() {
    let server = start(&[]);
    txn(
        &server,
        &json!({"success": [{"put": {"key": "a", "value": "1"}}]}),
    );
    let rev = store_rev(&server);
    let events = watch_from(&server, rev + 1);
    for body in [
        json!({}),
        json!({"success": [{"get": {"key": "a"}}, {"get": {"key": "missing"}}]}),
        json!({"success": [{"delete": {"key": "missing"}}]}),
        json!({"compare": [{"key": "a", "target": "value", "value": "2"}],
               "success": [{"put": {"key": "a", "value": "3"}}],
               "failure": [{"get": {"key": "a"}}]}),
    ] {
        let answer = txn(&server, &body);
        assert_eq!(answer["rev"], json!(rev), "{body} answered {answer}");
    }
    let deleted_nothing = txn(
        &server,
        &json!({"success": [{"delete": {"key": "missing"}}]}),
    );
    assert_eq!(
        results(&deleted_nothing),
        &vec![json!({"delete": {"deleted": false}})]
    );
    assert_eq!(store_rev(&server), rev);
    // The next change takes the very next revision, and is the first event.
    let stop = marker(&server);
    assert_eq!(stop, rev + 1);
    let got = events_before(&events, stop);
    assert!(got.is_empty(), "no-op transactions made events: {got:?}");
}

#[test]
fn invalid_transactions_are_refused_naming_the_part() {
    let server = start(&[]);
    txn(
        &server,
        &json!({"success": [{"put": {"key": "k", "value": "v"}}]}),
    );
    let rev = store_rev(&server);
    let put = |k: &str| json!({"put": {"key": k, "value": "x"}});
    let cases = [
        // The same key changed twice in a branch.
        (
            json!({"success": [put("a"), put("k"), put("a")]}),
            "success[2]",
        ),
        (
            json!({"success": [put("k"), {"delete": {"key": "k"}}]}),
            "success[1]",
        ),
        (
            json!({"success": [put("a")], "failure": [{"delete": {"key": "b"}}, put("b")]}),
            "failure[1]",
        ),
        // Malformed comparisons.
        (
            json!({"compare": [{"target": "mod_rev", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "version", "value": 1},
                               {"key": "k", "target": "mod_rev", "op": "~", "value": 1}]}),
            "compare[1]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "size", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "mod_rev", "value": "1"}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "exists", "value": 1}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "k", "target": "value", "value": "!", "encoding": "base64"}]}),
            "compare[0]",
        ),
        (
            json!({"compare": [{"key": "", "target": "exists", "value": true}]}),
            "compare[0]",
        ),
        // Malformed operations.
        (json!({"success": [{"jump": {"key": "k"}}]}), "success[0]"),
        (
            json!({"success": [put("a"), {"put": {"key": "b"}}]}),
            "success[1]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": 5}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": "x", "encoding": "hex"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "b", "value": "*", "encoding": "base64"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"get": {"key": "k"}, "put": {"key": "k", "value": "v"}}]}),
            "success[0]",
        ),
        (
            json!({"success": [{"put": {"key": "", "value": "v"}}]}),
            "success[0]",
        ),
        (json!({"failure": [{"get": {}}]}), "failure[0]"),
        (
            json!({"failure": [put("a"), put("b"), {"delete": {"key": "c", "x": 1}}]}),
            "failure[2]",
        ),
        // The body itself.
        (json!({"success": [], "then": []}), "unknown field"),
        (
            json!({"success": {"put": {"key": "k", "value": "v"}}}),
            "success",
        ),
        (json!([put("a")]), "object"),
    ];
    for (body, names) in cases {
        let message = txn_refused(&server, &body);
        assert!(
            message.contains(names),
            "{body}: {message:?} does not name {names}"
        );
    }
    let reply = request(
        "POST",
        &server.url("/v1/txn"),
        Some("application/json"),
        Some(b"{"),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        store_rev(&server),
        rev,
        "a refused transaction changed something"
    );
    assert_eq!(
        everything(&server).keys().collect::<Vec<_>>(),
        vec!["k"],
        "a refused transaction wrote something"
    );
}

#[test]
fn the_op_limit_counts_comparisons_and_both_branches() {
    let server = start(&["--max-txn-ops", "4", "--in-memory"]);
    let four = json!({
        "compare": [{"key": "k", "target": "exists", "value": false}],
        "success": [{"put": {"key": "k", "value": "1"}}, {"put": {"key": "j", "value": "1"}}],
        "failure": [{"get": {"key": "k"}}]
    });
    assert_eq!(txn(&server, &four)["succeeded"], json!(true));
    let rev = store_rev(&server);
    for (branch, extra) in [
        (
            "compare",
            json!({"key": "j", "target": "exists", "value": true}),
        ),
        ("success", json!({"put": {"key": "x", "value": "1"}})),
        ("failure", json!({"put": {"key": "x", "value": "1"}})),
    ] {
        let mut five = four.clone();
        five[branch].as_array_mut().expect("an array").push(extra);
        let message = txn_refused(&server, &five);
        assert!(message.contains("over the limit of 4"), "{message}");
    }
    assert_eq!(store_rev(&server), rev);
    assert!(!everything(&server).contains_key("x"));
}

#[test]
fn base64_values_in_puts_and_comparisons() {
    let server = start(&[]);
    let bytes = [0xff_u8, 0x00, 0x01, 0xc3];
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let put = txn(
        &server,
        &json!({"success": [{"put": {"key": "bin", "value": b64, "encoding": "base64"}},
                            {"put": {"key": "txt", "value": "aGk=", "encoding": "utf8"}},
                            {"get": {"key": "bin"}}]}),
    );
    let entry = got_entry(&results(&put)[2]).expect("bin");
    assert_eq!(
        (&entry["value"], &entry["encoding"]),
        (&json!(b64), &json!("base64"))
    );
    // Stored as the bytes: the key route and the listing return them.
    let read = get(&server.url("/v1/kv/bin?format=json"));
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(value_bytes(&read.json()), bytes);
    let listed = everything(&server);
    assert_eq!(value_bytes(&listed["bin"]), bytes);
    assert_eq!(
        listed["txt"]["value"],
        json!("aGk="),
        "utf8 is taken as text"
    );

    let compare = |value: &str, encoding: Option<&str>| {
        let mut c = json!({"key": "bin", "target": "value", "value": value});
        if let Some(encoding) = encoding {
            c["encoding"] = json!(encoding);
        }
        txn(&server, &json!({"compare": [c]}))["succeeded"].clone()
    };
    assert_eq!(compare(&b64, Some("base64")), json!(true));
    assert_eq!(
        compare(&b64, None),
        json!(false),
        "the base64 text is not the value"
    );
    assert_eq!(
        compare("/wAB", Some("base64")),
        json!(false),
        "a prefix of the value"
    );
    let swapped = txn(
        &server,
        &json!({"compare": [{"key": "bin", "target": "value", "value": b64, "encoding": "base64"}],
                "success": [{"put": {"key": "bin", "value": "AAA=", "encoding": "base64"}}]}),
    );
    assert_eq!(swapped["succeeded"], json!(true));
    assert_eq!(value_bytes(&everything(&server)["bin"]), [0, 0]);
}

#[test]
fn a_transaction_survives_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(dir.path(), &[]);
    put_all(
        &server,
        &[
            ("t/a".into(), "1".into()),
            ("t/b".into(), "2".into()),
            ("t/c".into(), "3".into()),
        ],
    );
    let answer = txn(
        &server,
        &json!({"compare": [{"key": "t/a", "target": "value", "value": "1"}],
                "success": [{"put": {"key": "t/a", "value": "10"}},
                            {"delete": {"key": "t/b"}},
                            {"put": {"key": "t/d", "value": "/w==", "encoding": "base64"}}]}),
    );
    assert_eq!(answer["succeeded"], json!(true));
    let rev = u64_of(&answer["rev"], "rev");
    let check = |server: &TestServer, when: &str| {
        let now = everything(server);
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            vec!["t/a", "t/c", "t/d"],
            "{when}"
        );
        assert_eq!(now["t/a"]["value"], json!("10"), "{when}");
        assert_eq!(now["t/a"]["mod_rev"], json!(rev), "{when}");
        assert_eq!(now["t/a"]["version"], json!(2), "{when}");
        assert_eq!(now["t/d"]["mod_rev"], json!(rev), "{when}");
        assert_eq!(value_bytes(&now["t/d"]), [0xff], "{when}");
        assert_eq!(now["t/c"]["mod_rev"], json!(rev - 1), "{when}");
        assert_eq!(store_rev(server), rev, "{when}");
    };
    check(&server, "before the crash");
    server.kill();
    let server = start_in(dir.path(), &[]);
    check(&server, "after a kill and a restart");
    assert_eq!(marker(&server), rev + 1);
}

/// One thread's transfers: `count` times, moves a random amount between two
/// of the accounts with a read, then a compare-and-swap on both `mod_rev`s,
/// retrying when it fails. Returns (its committed revisions, transfers per
/// account touched, failed attempts).
fn transfers(client: &KvClient, seed: u64, count: usize) -> (Vec<u64>, [u64; 4], u64) {
    let mut rng = Lcg(seed);
    let deadline = Instant::now() + DEADLINE;
    let (mut revs, mut touched, mut failed) = (Vec::new(), [0u64; 4], 0u64);
    for _ in 0..count {
        let from = (rng.draw() % 4) as usize;
        let to = (from + 1 + (rng.draw() % 3) as usize) % 4;
        let amount = (rng.draw() % 50 + 1) as i64;
        let (a, b) = (format!("acct/{from}"), format!("acct/{to}"));
        loop {
            assert!(
                Instant::now() < deadline,
                "transfers did not finish in time"
            );
            let read = client
                .txn(&json!({"success": [{"get": {"key": a}}, {"get": {"key": b}}]}))
                .expect("read both");
            let state: Vec<(i64, u64)> = read
                .results
                .iter()
                .map(|r| {
                    let entry = r
                        .get
                        .as_ref()
                        .and_then(|g| g.entry.as_ref())
                        .expect("an account");
                    (entry.value.parse().expect("a balance"), entry.mod_rev)
                })
                .collect();
            let answer = client
                .txn(&json!({
                    "compare": [{"key": a, "target": "mod_rev", "value": state[0].1},
                                {"key": b, "target": "mod_rev", "value": state[1].1}],
                    "success": [{"put": {"key": a, "value": (state[0].0 - amount).to_string()}},
                                {"put": {"key": b, "value": (state[1].0 + amount).to_string()}}]
                }))
                .expect("transfer");
            if answer.succeeded {
                assert_eq!(answer.results.len(), 2);
                revs.push(answer.rev);
                touched[from] += 1;
                touched[to] += 1;
                break;
            }
            assert!(answer.results.is_empty());
            failed += 1;
        }
    }
    (revs, touched, failed)
}

#[test]
fn concurrent_transfers_lose_nothing() {
    let server = start(&["--fsync", "no"]);
    let accounts: Vec<(String, String)> = (0..4)
        .map(|i| (format!("acct/{i}"), "1000".to_owned()))
        .collect();
    let start_rev = put_all(&server, &accounts);
    let client = client_of(&server);
    let outcomes: Vec<(Vec<u64>, [u64; 4], u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                scope.spawn(move || transfers(&client, 100 + t, 50))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a transfer thread"))
            .collect()
    });
    let revs: BTreeSet<u64> = outcomes.iter().flat_map(|r| r.0.iter().copied()).collect();
    let committed: usize = outcomes.iter().map(|r| r.0.len()).sum();
    assert_eq!(committed, 400, "8 threads times 50 transfers");
    assert_eq!(revs.len(), 400, "each transfer at a revision of its own");
    let failed: u64 = outcomes.iter().map(|r| r.2).sum();
    eprintln!("400 transfers, {failed} failed attempts retried");
    // Only the transfers changed anything: exactly 400 more revisions.
    assert_eq!(store_rev(&server), start_rev + 400);
    let now = everything(&server);
    let total: i64 = now
        .values()
        .map(|e| {
            e["value"]
                .as_str()
                .expect("value")
                .parse::<i64>()
                .expect("a balance")
        })
        .sum();
    assert_eq!(total, 4000, "money was created or lost: {now:?}");
    for i in 0..4 {
        let touched: u64 = outcomes.iter().map(|r| r.1[i]).sum();
        assert_eq!(
            now[&format!("acct/{i}")]["version"],
            json!(1 + touched),
            "acct/{i} was written by every transfer that touched it, once"
        );
    }
}
