//! The change feed over HTTP (`GET /v1/watch`, Server-Sent Events), end to
//! end: every watcher gets exactly the acknowledged changes its filter
//! selects, in revision order, across a disconnect and a `Last-Event-ID`
//! resume; a revision that left the ring answers 410; and a watcher that
//! never reads is cut off without holding up writers or other watchers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use kv_client::watch::{WatchItem, WatchStream};
use kv_client::KvClient;
use kv_testkit::TestServer;
use serde_json::Value;

use crate::feed_support::{
    self, assert_exactly, body_of, client_of, read_all, sorted_contiguous, stalled_watch, Change,
    Lcg,
};
use crate::start;

/// How long any wait on the feed may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);
/// Heartbeat of the servers here, so idle filtered watchers learn quickly
/// that they have seen the last revision.
const HEARTBEAT_MS: &str = "100";

/// Opens `GET /v1/watch?QUERY`, with `Last-Event-ID` when given.
fn open_watch(
    server: &TestServer,
    query: &str,
    last_event_id: Option<&str>,
) -> Result<WatchStream, (u16, String)> {
    match last_event_id {
        Some(id) => feed_support::open_watch(server, query, &[("Last-Event-ID", id)]),
        None => feed_support::open_watch(server, query, &[]),
    }
}

fn watch(server: &TestServer, query: &str, last_event_id: Option<&str>) -> WatchStream {
    open_watch(server, query, last_event_id)
        .unwrap_or_else(|(status, body)| panic!("watch {query:?} answered {status}: {body}"))
}

/// What one watch connection delivered.
#[derive(Debug, Default)]
struct Seen {
    events: Vec<Change>,
    /// The last `id:` received (an event's or a progress event's).
    last_id: u64,
    /// Why reading stopped early, if it did: a cut, an error, the end.
    ended: Option<String>,
}

/// Reads `stream` until it has seen revision `final_rev` (once that is set,
/// non-zero), or `stop_after` events, or the stream stops.
fn follow(stream: WatchStream, final_rev: &AtomicU64, stop_after: Option<usize>) -> Seen {
    let mut seen = Seen::default();
    for item in stream {
        match item {
            Ok(WatchItem::Event(event)) => {
                seen.last_id = event.rev;
                seen.events.push(event.into());
                if stop_after.is_some_and(|n| seen.events.len() >= n) {
                    return seen;
                }
            }
            Ok(WatchItem::Progress(rev)) => seen.last_id = rev,
            Ok(WatchItem::Cut(cut)) => {
                seen.ended = Some(format!("cut off: {cut:?}"));
                return seen;
            }
            Err(e) => {
                seen.ended = Some(format!("read error: {e}"));
                return seen;
            }
        }
        let last = final_rev.load(Ordering::Acquire);
        if last != 0 && seen.last_id >= last {
            return seen;
        }
    }
    seen.ended = Some("the stream ended".into());
    seen
}

/// Runs `f` on a thread and waits for its result at most [`DEADLINE`].
fn spawn_with_deadline<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> impl FnOnce() -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    move || {
        rx.recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("{what}: no result within {DEADLINE:?} ({e})"))
    }
}

const MIXED_WRITERS: usize = 8;
const MIXED_WRITES_PER_WRITER: usize = 1250;
/// Events the all-keys watcher takes before it drops its connection.
const HALF: usize = 4000;

/// Sets and some removals over `p/…`, `q/…` and the hot key `hot`.
/// Returns the changes acknowledged (a removal of a missing key commits
/// nothing and is not one).
fn mixed_writer(client: KvClient, thread: usize) -> Vec<Change> {
    let mut rng = Lcg(thread as u64 * 7919 + 17);
    let mut acked = Vec::new();
    for i in 0..MIXED_WRITES_PER_WRITER {
        let key = match rng.draw() % 10 {
            0..=2 => "hot".to_owned(),
            3..=6 => format!("p/{}", rng.draw() % 40),
            _ => format!("q/{}", rng.draw() % 40),
        };
        if rng.draw().is_multiple_of(4) {
            let answer = client.rm(&key).unwrap_or_else(|e| panic!("rm {key}: {e}"));
            if answer.removed {
                acked.push(Change::rm(answer.rev, &key));
            }
        } else {
            let val = format!("t{thread}-{i}");
            let answer = client
                .set(&key, &val)
                .unwrap_or_else(|e| panic!("set {key}: {e}"));
            acked.push(Change::set(answer.rev, &key, &val));
        }
    }
    acked
}

#[test]
fn watchers_receive_exactly_their_events() {
    let began = Instant::now();
    let server = Arc::new(start(&["--watch-heartbeat-ms", HEARTBEAT_MS]));
    let final_rev = Arc::new(AtomicU64::new(0));

    // The watchers connect before any write: the server makes each
    // cursor before it answers, so they start at revision 1.
    let filtered = |query: &'static str, what: &'static str| {
        let stream = watch(&server, query, None);
        let final_rev = Arc::clone(&final_rev);
        spawn_with_deadline(what, move || follow(stream, &final_rev, None))
    };
    let prefix_watcher = filtered("prefix=p/", "the prefix=p/ watcher");
    let hot_watcher = filtered("key=hot", "the key=hot watcher");
    let all_watcher = {
        let first = watch(&server, "", None);
        let (server, final_rev) = (Arc::clone(&server), Arc::clone(&final_rev));
        spawn_with_deadline("the all-keys watcher", move || {
            // Drop the connection halfway, then resume where it stopped.
            let before = follow(first, &final_rev, Some(HALF));
            let id = before.last_id.to_string();
            let after = follow(watch(&server, "", Some(&id)), &final_rev, None);
            (before, after)
        })
    };

    let client = client_of(&server);
    let writers: Vec<_> = (0..MIXED_WRITERS)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || mixed_writer(client, t))
        })
        .collect();
    let acked: Vec<Change> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("a writer thread panicked"))
        .collect();
    let acked = sorted_contiguous(acked, 1);
    let last = acked.last().expect("some writes").rev;
    final_rev.store(last, Ordering::Release);

    let (before, after) = all_watcher();
    assert_eq!(
        before.events.len(),
        HALF,
        "the all-keys watcher stopped before dropping its connection halfway: {:?}",
        before.ended
    );
    assert!(
        after.ended.is_none(),
        "the resumed all-keys watch stopped early: {:?}",
        after.ended
    );
    assert!(
        !after.events.is_empty() && after.events[0].rev > before.last_id,
        "the resumed watch (Last-Event-ID: {}) did not continue after it: first {:?}",
        before.last_id,
        after.events.first()
    );
    let union: Vec<Change> = before.events.into_iter().chain(after.events).collect();
    assert_exactly("all keys (two connections)", &union, &acked);

    let check = |name: &str, seen: Seen, wanted: &dyn Fn(&Change) -> bool| {
        assert!(
            seen.ended.is_none(),
            "{name}: stopped early: {:?}",
            seen.ended
        );
        let expected: Vec<Change> = acked.iter().filter(|c| wanted(c)).cloned().collect();
        assert!(!expected.is_empty(), "{name}: no writes matched");
        assert_exactly(name, &seen.events, &expected);
    };
    check("prefix=p/", prefix_watcher(), &|c| c.key.starts_with("p/"));
    check("key=hot", hot_watcher(), &|c| c.key == "hot");
    eprintln!(
        "watch: {} changes (revisions 1..={last}) from {} writes, delivered exactly to 3 \
         watchers and across a Last-Event-ID resume ({:.1?})",
        acked.len(),
        MIXED_WRITERS * MIXED_WRITES_PER_WRITER,
        began.elapsed()
    );
}

#[test]
fn resuming_from_a_revision_that_left_the_ring_is_410() {
    let server = start(&["--feed-ring-events", "100"]);
    let client = client_of(&server);
    for i in 1..=300u64 {
        let rev = client
            .set(&format!("k{}", i % 7), &format!("v{i}"))
            .expect("set")
            .rev;
        assert_eq!(rev, i, "a fresh server numbers its writes from 1");
    }
    let gone = |query: &str, last_event_id: Option<&str>| {
        let Err((status, body)) = open_watch(&server, query, last_event_id) else {
            panic!("watch {query:?} (Last-Event-ID {last_event_id:?}) was accepted");
        };
        assert_eq!(status, 410, "{query:?} {last_event_id:?}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error body");
        assert_eq!(body["error"]["code"], "revision_gone", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        assert_eq!(body["error"]["oldest_rev"], 201, "{body}");
    };
    gone("from_rev=1", None);
    gone("", Some("5"));
    // The edges: 200 has left the ring, 201 has not.
    gone("from_rev=200", None);
    gone("", Some("199"));

    let read_to_300 = |stream: WatchStream| {
        let final_rev = AtomicU64::new(300);
        let seen = follow(stream, &final_rev, None);
        assert!(seen.ended.is_none(), "stopped early: {:?}", seen.ended);
        seen.events
    };
    let expected = |from: u64| -> Vec<Change> {
        (from..=300)
            .map(|i| Change::set(i, &format!("k{}", i % 7), &format!("v{i}")))
            .collect()
    };
    let stream = watch(&server, "from_rev=250", None);
    let events = spawn_with_deadline("from_rev=250", move || read_to_300(stream))();
    assert_exactly("from_rev=250", &events, &expected(250));
    let stream = watch(&server, "", Some("200"));
    let events = spawn_with_deadline("Last-Event-ID: 200", move || read_to_300(stream))();
    assert_exactly("Last-Event-ID: 200", &events, &expected(201));
}

const STALL_WRITERS: usize = 4;
const STALL_WRITES: usize = 5000;
const VALUE_BYTES: usize = 1024;
const WATCH_BUFFER: u64 = 200;

/// A distinct value of about 1 KiB.
fn value(thread: usize, i: usize) -> String {
    let head = format!("t{thread}-{i}-");
    let fill = VALUE_BYTES - head.len();
    head + &"x".repeat(fill)
}

/// `STALL_WRITES` sets of 1 KiB values from `STALL_WRITERS` threads;
/// returns them sorted by revision (checked contiguous from `from`) and the
/// writes per second.
fn write_batch(client: &KvClient, from: u64, batch: usize) -> (Vec<Change>, f64) {
    let began = Instant::now();
    let writers: Vec<_> = (0..STALL_WRITERS)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                (0..STALL_WRITES / STALL_WRITERS)
                    .map(|i| {
                        let key = format!("b{batch}/{t}/{}", i % 50);
                        let val = value(t, i);
                        let rev = client
                            .set(&key, &val)
                            .unwrap_or_else(|e| panic!("set {key} failed: {e}"))
                            .rev;
                        Change {
                            rev,
                            op: "set".into(),
                            key,
                            val: Some(val),
                        }
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: Vec<Change> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("a writer thread panicked"))
        .collect();
    let rate = acked.len() as f64 / began.elapsed().as_secs_f64();
    (sorted_contiguous(acked, from), rate)
}

/// A normal watcher from `from` on a thread, reading until `final_rev`.
fn reader(server: &TestServer, from: u64, final_rev: &Arc<AtomicU64>) -> impl FnOnce() -> Seen {
    let stream = watch(server, &format!("from_rev={from}"), None);
    let final_rev = Arc::clone(final_rev);
    spawn_with_deadline("a normal watcher", move || follow(stream, &final_rev, None))
}

#[test]
fn a_watcher_that_never_reads_is_cut_off_and_others_are_unaffected() {
    let began = Instant::now();
    let server = start(&[
        "--watch-buffer",
        &WATCH_BUFFER.to_string(),
        "--watch-heartbeat-ms",
        HEARTBEAT_MS,
    ]);
    let client = client_of(&server);

    // With a watcher that never reads.
    let stalled = stalled_watch(&server, 1);
    let final_rev = Arc::new(AtomicU64::new(0));
    let normal = reader(&server, 1, &final_rev);
    let (acked, stalled_rate) = write_batch(&client, 1, 0);
    let last = acked.last().expect("writes").rev;
    final_rev.store(last, Ordering::Release);
    let seen = normal();
    assert!(
        seen.ended.is_none(),
        "the normal watcher stopped early: {:?}",
        seen.ended
    );
    assert_exactly("the normal watcher", &seen.events, &acked);

    // The stalled stream: contiguous events from 1, then a cut naming
    // where to resume, then the end.
    let (body, ended) = body_of(&read_all(stalled));
    assert!(ended, "the stalled stream's body did not end properly");
    let items: Vec<WatchItem> = WatchStream::new(Box::new(std::io::Cursor::new(body)))
        .collect::<std::io::Result<_>>()
        .expect("the stalled stream parses");
    let (cut, events) = match items.split_last() {
        Some((WatchItem::Cut(cut), rest)) => (cut.clone(), rest),
        other => panic!(
            "the stalled stream does not end with a cut: its last item is {:?}",
            other.map(|(last, _)| last)
        ),
    };
    let events: Vec<Change> = events
        .iter()
        .filter_map(|item| match item {
            WatchItem::Event(e) => Some(Change::from(e.clone())),
            WatchItem::Progress(_) => None,
            WatchItem::Cut(c) => panic!("a cut before the end: {c:?}"),
        })
        .collect();
    let resume = cut.resume_from_rev;
    assert!(
        resume > 1 && resume <= last,
        "the cut names revision {resume}, outside 2..={last} ({})",
        cut.reason
    );
    assert_exactly(
        "the stalled watcher, up to its cut",
        &events,
        &acked[..(resume - 1) as usize],
    );

    // The same batch with no stalled watcher, for comparison only.
    let baseline_final = Arc::new(AtomicU64::new(0));
    let normal = reader(&server, last + 1, &baseline_final);
    let (baseline, baseline_rate) = write_batch(&client, last + 1, 1);
    baseline_final.store(baseline.last().expect("writes").rev, Ordering::Release);
    let seen = normal();
    assert!(
        seen.ended.is_none(),
        "the baseline watcher stopped early: {:?}",
        seen.ended
    );
    assert_exactly("the baseline watcher", &seen.events, &baseline);

    eprintln!(
        "watch: the stalled watcher got revisions 1..={} of {last} and was cut with \
         resume_from_rev {resume}; writes of 1 KiB values from {STALL_WRITERS} threads: \
         {stalled_rate:.0}/s with the stalled watcher open, {baseline_rate:.0}/s without \
         (information only)",
        resume - 1,
    );

    // Resuming where the cut said gets everything after it, both
    // batches, whatever the distance to the newest revision.
    let newest = Arc::new(AtomicU64::new(baseline.last().expect("writes").rev));
    let rest = reader(&server, resume, &newest)();
    assert!(
        rest.ended.is_none(),
        "a watch from the cut's resume_from_rev {resume} stopped early after {} events: {:?}",
        rest.events.len(),
        rest.ended
    );
    let expected: Vec<Change> = acked[(resume - 1) as usize..]
        .iter()
        .chain(&baseline)
        .cloned()
        .collect();
    assert_exactly("the watcher resumed after its cut", &rest.events, &expected);
    eprintln!("watch: stalled-watcher test took {:.1?}", began.elapsed());
}
