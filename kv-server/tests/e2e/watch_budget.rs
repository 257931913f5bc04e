//! What a watch stream may hold and claim: a watcher that stops reading is
//! cut once its byte budget is full (`--watch-buffer-bytes`), its pending
//! bytes are freed at once, and its last event names the revision to resume
//! from; a watch never starts from a revision that does not exist.

use std::time::{Duration, Instant};

use kv_client::watch::{WatchItem, WatchStream};
use kv_testkit::http::get;
use kv_testkit::TestServer;

use crate::feed_support::{body_of, client_of, open_watch, read_all, stalled_watch};
use crate::start;

/// Bytes of each value written past the stalled watcher.
const VALUE_BYTES: usize = 64 * 1024;
/// Values written: 16 MiB, more than the kernel's socket buffers on both
/// ends of a loopback connection hold, so the server's own buffer fills.
const WRITES: u64 = 256;
/// The stalled watcher's budget.
const BUDGET: usize = 256 * 1024;

/// The value of the metric `name` (no labels) in `/metrics`.
fn metric(server: &TestServer, name: &str) -> f64 {
    let text = get(&server.url("/metrics")).body;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until `check` holds for the metric `name`.
fn wait_for_metric(server: &TestServer, name: &str, check: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = metric(server, name);
        if check(value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{name} stayed at {value}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_watcher_over_its_byte_budget_is_cut_and_its_bytes_are_freed_at_once() {
    let server = start(&["--in-memory", "--watch-buffer-bytes", &BUDGET.to_string()]);
    let client = client_of(&server);
    let stalled = stalled_watch(&server, 1);
    let value = "v".repeat(VALUE_BYTES);
    for i in 0..WRITES {
        let rev = client
            .set(&format!("big/{}", i % 8), &value)
            .expect("set")
            .rev;
        assert_eq!(rev, i + 1);
    }
    // Cut within a second of its buffer filling up; what it held is then
    // freed but for the rest of a frame partly sent (under one value) and
    // the cut event.
    wait_for_metric(&server, "kvstore_watchers_cut_total", |cut| cut == 1.0);
    let left = (VALUE_BYTES + 1024) as f64;
    let buffered = wait_for_metric(&server, "kvstore_watch_buffered_bytes", |b| b < left);
    assert!(buffered < left, "{buffered} bytes still buffered");

    // The stream: contiguous events from 1, then the cut naming the first
    // revision it did not get.
    let (body, ended) = body_of(&read_all(stalled));
    assert!(ended, "the stalled stream's body did not end properly");
    let items: Vec<WatchItem> = WatchStream::new(Box::new(std::io::Cursor::new(body)))
        .collect::<std::io::Result<_>>()
        .expect("the stalled stream parses");
    let Some((WatchItem::Cut(cut), rest)) = items.split_last() else {
        panic!("the stream does not end with a cut: {:?}", items.last());
    };
    let revs: Vec<u64> = rest
        .iter()
        .filter_map(|item| match item {
            WatchItem::Event(e) => Some(e.rev),
            _ => None,
        })
        .collect();
    let resume = cut.resume_from_rev;
    assert_eq!(revs, (1..resume).collect::<Vec<_>>(), "{}", cut.reason);
    assert!(resume <= WRITES, "cut at {resume}: {}", cut.reason);
    assert!(
        cut.reason.contains("--watch-buffer-bytes"),
        "{}",
        cut.reason
    );

    // Resuming where it said gives the rest, nothing skipped.
    let resumed = open_watch(&server, &format!("from_rev={resume}"), &[])
        .unwrap_or_else(|(status, body)| panic!("resume: {status} {body}"));
    let mut next = resume;
    for item in resumed {
        if let WatchItem::Event(e) = item.expect("parses") {
            assert_eq!(e.rev, next);
            next += 1;
            if next > WRITES {
                break;
            }
        }
    }
}

/// A watch from a revision that does not exist yet waits for it, as etcd
/// does, and never claims a revision that does not exist: before, with the
/// store at revision 5, `from_rev=100` opened with a progress event for
/// revision 99.
#[test]
fn a_watch_from_a_future_revision_waits_and_claims_nothing_that_does_not_exist() {
    let server = start(&["--in-memory", "--watch-heartbeat-ms", "50"]);
    let client = client_of(&server);
    for i in 0..5 {
        client.set(&format!("k{i}"), "v").expect("set");
    }
    let mut far = open_watch(&server, "from_rev=18446744073709551615", &[]).expect("far");
    let mut soon = open_watch(&server, "from_rev=8", &[]).expect("soon");
    for stream in [&mut far, &mut soon] {
        // The opening progress event, then heartbeats: all at revision 5.
        for _ in 0..3 {
            match stream.next() {
                Some(Ok(WatchItem::Progress(rev))) => assert_eq!(rev, 5),
                other => panic!("expected progress at 5, got {other:?}"),
            }
        }
    }
    for i in 5..8 {
        client.set(&format!("k{i}"), "v").expect("set");
    }
    // Revisions 6 and 7 are before the watch's start; 8 is its first.
    loop {
        match soon.next() {
            Some(Ok(WatchItem::Progress(rev))) => assert!(rev <= 7, "progress {rev}"),
            Some(Ok(WatchItem::Event(e))) => {
                assert_eq!((e.rev, e.key.as_str()), (8, "k7"));
                break;
            }
            other => panic!("expected revision 8, got {other:?}"),
        }
    }
    // A Last-Event-ID with no next revision is refused, not wrapped.
    let (status, body) =
        open_watch(&server, "", &[("Last-Event-ID", "18446744073709551615")]).expect_err("max");
    assert_eq!(status, 400, "{body}");
}
