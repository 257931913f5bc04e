//! Keys with a time to live, end to end: they expire on time (an `expire`
//! event per key, received within a bound after the deadline, even while
//! other writers keep the server busy), a read never returns a value past
//! its deadline, a rewrite cancels the old deadline, deadlines that pass
//! while the server is down fire when it is back, and bad ttls are 400.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use kv_client::watch::{WatchItem, WatchParams};
use kv_client::KvClient;
use kv_core::api::{key_path, WatchEvent};
use kv_core::command::Condition;
use kv_testkit::http::agent;
use kv_testkit::now_ms;
use kv_testkit::{http, Lcg, TestServer};
use serde_json::{json, Value};

use crate::feed_support::client_of;
use crate::start;

/// How late an `expire` event may be received after its key's deadline,
/// measured on receipt by the watcher: 100 ms, as the issue asks.
///
/// Kept at 100 ms even for debug builds on two cores with four writer
/// threads busy: measured there, the worst of 200 expiries was under 10 ms
/// when these tests run alone and about 50 ms with the whole e2e suite
/// running alongside (median 1 ms; the test prints the figures). 100 ms
/// leaves room for that scheduling noise while still failing an expiry
/// that waits for a later write, a heartbeat or a polling period. If it
/// ever proves flaky on a slower machine, 300 ms (still under the smallest
/// ttl) is the fallback.
const LATE_BOUND_MS: u64 = 100;
/// How long any wait for the server may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

/// A key's expiry as the server reports it: the `X-Kv-Expires-At` header of
/// a plain GET (`header`), or `expires_at` of `?format=json`. `None` when
/// the key is gone; panics when it exists without an expiry.
fn reported_expiry(
    agent: &ureq::Agent,
    server: &TestServer,
    key: &str,
    header: bool,
) -> Option<u64> {
    let path = key_path(key);
    let url = if header {
        server.url(&path)
    } else {
        server.url(&format!("{path}?format=json"))
    };
    let mut response = agent.get(&url).call().expect("GET a key");
    match response.status().as_u16() {
        404 => None,
        200 if header => {
            let at = response
                .headers()
                .get("x-kv-expires-at")
                .unwrap_or_else(|| panic!("{key}: no X-Kv-Expires-At header"))
                .to_str()
                .expect("ASCII header")
                .parse()
                .expect("X-Kv-Expires-At is a number");
            Some(at)
        }
        200 => {
            let entry: Value = response.body_mut().read_json().expect("a JSON entry");
            Some(
                entry["expires_at"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{key}: no expires_at in {entry}")),
            )
        }
        other => panic!("GET {key}: status {other}"),
    }
}

/// The store's revision now.
fn revision(client: &KvClient) -> u64 {
    client.list("", None, Some(1), true).expect("list").rev
}

/// What the watcher thread saw: each event with its receipt time (ms since
/// the epoch), or why the stream stopped.
enum Seen {
    Event(WatchEvent, u64),
    Ended(String),
}

/// Watches `prefix` from revision `from` on a thread that forwards every
/// event, stamped with its receipt time, until it sees a `set` of `marker`.
fn watcher(client: &KvClient, prefix: &str, from: u64, marker: &str) -> mpsc::Receiver<Seen> {
    let params = WatchParams {
        prefix: Some(prefix.to_owned()),
        ..WatchParams::default()
    };
    let stream = client.watch(&params, Some(from)).expect("open the watch");
    let marker = marker.to_owned();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for item in stream {
            let received = now_ms();
            match item {
                Ok(WatchItem::Event(event)) => {
                    let last = event.op == "set" && event.key == marker;
                    if tx.send(Seen::Event(event, received)).is_err() || last {
                        return;
                    }
                }
                Ok(WatchItem::Progress(_)) => {}
                Ok(WatchItem::Cut(cut)) => {
                    let _ = tx.send(Seen::Ended(format!("cut off: {cut:?}")));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Seen::Ended(format!("read error: {e}")));
                    return;
                }
            }
        }
        let _ = tx.send(Seen::Ended("the stream ended".into()));
    });
    rx
}

/// The next event from the watcher, failing the test on a timeout or an
/// early end.
fn next_event(rx: &mpsc::Receiver<Seen>, what: &str) -> (WatchEvent, u64) {
    match rx.recv_timeout(WAIT) {
        Ok(Seen::Event(event, at)) => (event, at),
        Ok(Seen::Ended(why)) => panic!("{what}: the watch stopped: {why}"),
        Err(e) => panic!("{what}: no event within {WAIT:?} ({e})"),
    }
}

/// Writes `marker` and collects the watcher's events up to its `set`.
fn drain_to_marker(
    client: &KvClient,
    rx: &mpsc::Receiver<Seen>,
    marker: &str,
) -> Vec<(WatchEvent, u64)> {
    client
        .put(marker, b"end", None, None, Condition::Always)
        .expect("write the marker");
    let mut events = Vec::new();
    loop {
        let (event, at) = next_event(rx, "waiting for the marker");
        if event.op == "set" && event.key == marker {
            return events;
        }
        events.push((event, at));
    }
}

/// One key written with a ttl.
#[derive(Debug)]
struct TtlKey {
    key: String,
    /// The expiry the server reported right after the write.
    expires_at: u64,
}

/// GETs `key` repeatedly from shortly before `expires_at` to shortly after;
/// returns `(sent, status)` of each GET (`sent`: ms since the epoch, taken
/// before sending) whose answer was a 200 at or after the deadline, and how
/// many GETs were sent at or after it.
fn poll_around_deadline(url: String, expires_at: u64) -> (Vec<(u64, u16)>, usize) {
    let agent = agent();
    // Not synchronisation: only where the polling window starts.
    let start = expires_at.saturating_sub(60);
    let now = now_ms();
    if now < start {
        std::thread::sleep(Duration::from_millis(start - now));
    }
    let (mut violations, mut after) = (Vec::new(), 0);
    let mut gone = false;
    while after < 5 || now_ms() < expires_at + 60 {
        let sent = now_ms();
        let status = agent.get(&url).call().expect("GET").status().as_u16();
        if sent >= expires_at {
            after += 1;
        }
        match status {
            // A 200 only counts against the server when the request left
            // after the deadline (the read happened after `sent`), or after
            // a 404 already said the key was gone.
            200 if sent >= expires_at || gone => violations.push((sent, status)),
            200 => {}
            404 => gone = true,
            other => violations.push((sent, other)),
        }
    }
    (violations, after)
}

#[test]
fn keys_with_a_ttl_expire_on_time_under_load() {
    let server = start(&["--watch-heartbeat-ms", "100"]);
    let client = client_of(&server);
    let from = revision(&client) + 1;
    let marker = "ttl/~end";
    let events = watcher(&client, "ttl/", from, marker);

    // Four writers keep the server busy with other keys throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let load_writes = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (client, stop, count) =
                (client.clone(), Arc::clone(&stop), Arc::clone(&load_writes));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let value = format!("load value {t} {i}");
                    client
                        .put(
                            &format!("load/{t}/{}", i % 500),
                            value.as_bytes(),
                            None,
                            None,
                            Condition::Always,
                        )
                        .expect("load write");
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();

    let agent = agent();
    let mut rng = Lcg(0x7717_2024);
    let mut keys: Vec<TtlKey> = Vec::new();
    let mut pollers = Vec::new();
    for i in 0..200 {
        let key = format!("ttl/{i:03}");
        let ttl = 300 + rng.draw() % 1201;
        let before = now_ms();
        match i % 3 {
            0 => {
                let status = agent
                    .put(&server.url(&key_path(&key)))
                    .query("ttl", format!("{ttl}ms"))
                    .send(&b"v"[..])
                    .expect("PUT")
                    .status()
                    .as_u16();
                assert_eq!(status, 201, "PUT {key}?ttl={ttl}ms");
            }
            1 => {
                let reply = http::post_json(
                    &server.url("/set"),
                    &json!({"key": key, "val": "v", "ttl": format!("{ttl}ms")}),
                );
                assert_eq!(reply.status, 201, "/set {key}: {}", reply.body);
            }
            _ => {
                let reply = http::post_json(
                    &server.url("/v1/txn"),
                    &json!({"success": [{"put": {"key": key, "value": "v", "ttl": format!("{ttl}ms")}}]}),
                );
                assert_eq!(reply.status, 200, "txn put {key}: {}", reply.body);
            }
        }
        let after = now_ms();
        // The server's expiry must be the ttl from some moment of the write.
        let expires_at = reported_expiry(&agent, &server, &key, i % 2 == 0).unwrap_or_else(|| {
            panic!(
                "{key} (ttl {ttl} ms) is gone {} ms after its write",
                now_ms() - before
            )
        });
        assert!(
            (before + ttl..=after + ttl).contains(&expires_at),
            "{key}: expires_at {expires_at} is not the ttl {ttl} ms from the write \
             ({before}..={after})"
        );
        if i % 40 == 7 {
            let url = server.url(&key_path(&key));
            pollers.push((
                key.clone(),
                expires_at,
                std::thread::spawn(move || poll_around_deadline(url, expires_at)),
            ));
        }
        keys.push(TtlKey { key, expires_at });
    }

    // Collect expire events until every key has one (or the last deadline
    // is long past), while the load goes on.
    let last_deadline = keys.iter().map(|k| k.expires_at).max().expect("keys");
    let mut seen: Vec<(WatchEvent, u64)> = Vec::new();
    let mut expired = 0;
    while expired < keys.len() {
        let wait = (last_deadline + 10_000).saturating_sub(now_ms());
        match events.recv_timeout(Duration::from_millis(wait)) {
            Ok(Seen::Event(event, at)) => {
                expired += usize::from(event.op == "expire");
                seen.push((event, at));
            }
            Ok(Seen::Ended(why)) => panic!("the watch stopped: {why}"),
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Release);
    for writer in writers {
        writer.join().expect("a load writer panicked");
    }
    let load_writes = load_writes.load(Ordering::Relaxed);
    assert!(
        load_writes >= 100,
        "only {load_writes} load writes: no load"
    );
    // Anything emitted after the last expected one (a second expire) comes
    // before the marker.
    seen.extend(drain_to_marker(&client, &events, marker));

    let mut expires: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (event, at) in &seen {
        match event.op.as_str() {
            "expire" => expires.entry(event.key.as_str()).or_default().push(*at),
            "set" => {}
            other => panic!("unexpected {other} event: {event:?}"),
        }
    }
    let mut late = Vec::new();
    let mut lateness = Vec::new();
    for key in &keys {
        let received = match expires.remove(key.key.as_str()).as_deref() {
            Some(&[at]) => at,
            Some(many) => panic!("{}: {} expire events", key.key, many.len()),
            None => panic!("{}: no expire event (deadline {})", key.key, key.expires_at),
        };
        assert!(
            received >= key.expires_at,
            "{}: expire event received at {received}, before its deadline {}",
            key.key,
            key.expires_at
        );
        lateness.push(received - key.expires_at);
        if received > key.expires_at + LATE_BOUND_MS {
            late.push((key.key.as_str(), received - key.expires_at));
        }
    }
    assert!(
        expires.is_empty(),
        "expire events for keys without a ttl: {expires:?}"
    );
    lateness.sort_unstable();
    eprintln!(
        "expire lateness ms: median {}, p99 {}, max {} ({load_writes} load writes)",
        lateness[lateness.len() / 2],
        lateness[lateness.len() * 99 / 100],
        lateness[lateness.len() - 1]
    );
    assert!(
        late.is_empty(),
        "expire events later than {LATE_BOUND_MS} ms: {late:?}"
    );

    assert!(!pollers.is_empty());
    for (key, expires_at, poller) in pollers {
        let (violations, after) = poller.join().expect("a poller panicked");
        assert!(after >= 5, "{key}: only {after} GETs after the deadline");
        assert!(
            violations.is_empty(),
            "{key} (expires_at {expires_at}): GETs sent after the deadline or after a 404 \
             answered (sent, status) {violations:?}"
        );
    }
    // And it stays so.
    for key in keys.iter().step_by(20) {
        assert_eq!(
            reported_expiry(&agent, &server, &key.key, true),
            None,
            "{}",
            key.key
        );
    }
}

#[test]
fn a_rewrite_cancels_the_old_deadline() {
    let server = start(&["--watch-heartbeat-ms", "100"]);
    let client = client_of(&server);
    let agent = agent();
    let marker = "rewrite/~end";
    let events = watcher(&client, "rewrite/", revision(&client) + 1, marker);

    client
        .put(
            "rewrite/k",
            b"first",
            None,
            Some("300ms"),
            Condition::Always,
        )
        .expect("put with a ttl");
    let first_deadline = reported_expiry(&agent, &server, "rewrite/k", true).expect("k exists");
    client
        .put("rewrite/k", b"second", None, None, Condition::Always)
        .expect("rewrite without a ttl");
    assert!(
        now_ms() < first_deadline,
        "the rewrite came after the first deadline: the machine is too slow for this test"
    );
    // A control key with the same ttl shows the scheduler does fire here.
    client
        .put(
            "rewrite/control",
            b"c",
            None,
            Some("300ms"),
            Condition::Always,
        )
        .expect("put the control key");

    let mut seen = Vec::new();
    loop {
        let (event, at) = next_event(&events, "waiting for the control key to expire");
        let done = event.op == "expire" && event.key == "rewrite/control";
        seen.push((event, at));
        if done {
            break;
        }
    }
    // The first write's deadline fires (if it wrongly does) right when it
    // passes, within LATE_BOUND_MS; 600 ms after the first write is well past
    // both. Waiting for wall-clock time is the point here, not a stand-in for
    // an event.
    let check_at = first_deadline + 300;
    while now_ms() < check_at {
        std::thread::sleep(Duration::from_millis(
            check_at.saturating_sub(now_ms()).max(1),
        ));
    }
    let entry = client
        .entry("rewrite/k")
        .expect("GET")
        .expect("k survived its first deadline");
    assert_eq!(entry.value, "second");
    assert_eq!(
        entry.expires_at, None,
        "the rewrite without a ttl keeps no expiry"
    );
    seen.extend(drain_to_marker(&client, &events, marker));
    let ops: Vec<(String, String)> = seen.into_iter().map(|(e, _)| (e.op, e.key)).collect();
    let expected: Vec<(String, String)> = [
        ("set", "rewrite/k"),
        ("set", "rewrite/k"),
        ("set", "rewrite/control"),
        ("expire", "rewrite/control"),
    ]
    .iter()
    .map(|(op, key)| (op.to_string(), key.to_string()))
    .collect();
    assert_eq!(ops, expected, "events; no expire of rewrite/k allowed");
}

#[test]
fn expiry_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = env!("CARGO_BIN_EXE_server");
    let mut server = TestServer::start_in(bin, dir.path(), &[], &[]);
    let client = client_of(&server);
    let short: Vec<String> = (0..3).map(|i| format!("restart/short{i}")).collect();
    let long: Vec<String> = (0..2).map(|i| format!("restart/long{i}")).collect();
    for key in &short {
        client
            .put(key, b"s", None, Some("500ms"), Condition::Always)
            .expect("put short");
    }
    let mut long_expiry = HashMap::new();
    for key in &long {
        client
            .put(key, b"l", None, Some("1h"), Condition::Always)
            .expect("put long");
        let entry = client.entry(key).expect("GET").expect("long key exists");
        long_expiry.insert(key.clone(), entry.expires_at.expect("an expiry"));
    }
    let mut short_deadline = 0;
    for key in &short {
        let entry = client.entry(key).expect("GET");
        let entry = entry.unwrap_or_else(|| panic!("{key} expired before the restart"));
        short_deadline = short_deadline.max(entry.expires_at.expect("an expiry"));
    }
    let rev = revision(&client);
    server.kill();
    assert!(
        now_ms() < short_deadline,
        "the server was killed after the short deadline: this test needs it to pass while down"
    );
    // The point is that the deadline passes while the server is DOWN, so
    // there is nothing to poll: wait for the wall clock (plus a margin for
    // clock granularity).
    let resume_at = short_deadline + 50;
    while now_ms() < resume_at {
        std::thread::sleep(Duration::from_millis(
            resume_at.saturating_sub(now_ms()).max(1),
        ));
    }
    let server = TestServer::start_in(bin, dir.path(), &["--watch-heartbeat-ms", "100"], &[]);
    let client = client_of(&server);
    for key in &short {
        let reply = http::get(&server.url(&key_path(key)));
        assert_eq!(reply.status, 404, "{key} after the restart: {}", reply.body);
    }
    let listed: Vec<String> = client
        .list("restart/", None, None, false)
        .expect("list")
        .entries
        .into_iter()
        .map(|e| {
            if let Some(at) = long_expiry.get(&e.key) {
                assert_eq!(e.expires_at, Some(*at), "{}: listed expiry changed", e.key);
            }
            e.key
        })
        .collect();
    assert_eq!(listed, long, "listing after the restart");
    for key in &long {
        let entry = client
            .entry(key)
            .expect("GET")
            .unwrap_or_else(|| panic!("{key} lost"));
        assert_eq!(
            entry.expires_at,
            long_expiry.get(key).copied(),
            "{key}: expiry changed"
        );
    }

    let marker = "restart/~end";
    let events = watcher(&client, "restart/", rev + 1, marker);
    let mut expired = Vec::new();
    while expired.len() < short.len() {
        let (event, _) = next_event(&events, "waiting for the expire events after the restart");
        assert!(event.rev > rev, "{event:?} is from before the restart");
        assert_eq!(event.op, "expire", "{event:?}");
        expired.push(event.key);
    }
    let rest = drain_to_marker(&client, &events, marker);
    assert!(rest.is_empty(), "more events after the expiries: {rest:?}");
    expired.sort();
    assert_eq!(expired, short, "one expire event per short key");
}

#[test]
fn bad_ttls_are_refused() {
    let server = start(&["--in-memory"]);
    let url = |query: &str| server.url(&format!("/v1/kv/v/k?{query}"));
    let expires_at = now_ms() + 60_000;
    for query in [
        "ttl=0".to_owned(),
        "ttl=0ms".to_owned(),
        "ttl=abc".to_owned(),
        "ttl=5x".to_owned(),
        "ttl=".to_owned(),
        format!("ttl=1s&expires_at={expires_at}"),
    ] {
        let reply = http::request("PUT", &url(&query), None, Some(b"x"));
        assert_eq!(reply.status, 400, "PUT ?{query}: {}", reply.body);
        assert_eq!(reply.error_code(), "bad_request", "PUT ?{query}");
    }
    for ttl in [json!(0), json!("0s"), json!("5x")] {
        let reply = http::post_json(
            &server.url("/set"),
            &json!({"key": "v/k", "val": "x", "ttl": ttl}),
        );
        assert_eq!(reply.status, 400, "/set ttl {ttl}: {}", reply.body);
        assert_eq!(reply.error_code(), "bad_request", "/set ttl {ttl}");
    }
    let reply = http::post_json(
        &server.url("/v1/txn"),
        &json!({"success": [{"put": {"key": "v/k", "value": "x", "ttl": 0}}]}),
    );
    assert_eq!(reply.status, 400, "txn put ttl 0: {}", reply.body);
    assert_eq!(reply.error_code(), "bad_request");
    // Nothing was written.
    let reply = http::get(&server.url("/v1/kv/v/k"));
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(
        revision(&client_of(&server)),
        0,
        "a refused write committed something"
    );
    // The same requests with a good ttl are accepted.
    let reply = http::request("PUT", &url("ttl=30s"), None, Some(b"x"));
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = http::post_json(
        &server.url("/set"),
        &json!({"key": "v/j", "val": "x", "ttl": 30}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// A time to live in seconds too long to count in milliseconds is forever:
/// before, the deadline wrapped around u64 and could land in the past.
#[test]
fn a_huge_ttl_never_expires_the_key_at_once() {
    let server = start(&["--in-memory"]);
    let client = client_of(&server);
    // In milliseconds this is 2^64 + 384: it wrapped to 384 ms.
    let seconds = u64::MAX / 1000 + 1;
    let set = http::post_json(
        &server.url("/set"),
        &json!({"key": "forever", "val": "v", "ttl": seconds}),
    );
    assert_eq!(set.status, 201, "{}", set.body);
    let entry = client.entry("forever").expect("read").expect("still there");
    assert_eq!(entry.expires_at, Some(u64::MAX));
    // As text, a duration that does not fit in milliseconds is refused.
    let url = server.url(&format!("{}?ttl={}", key_path("too-long"), u64::MAX));
    let put = http::request("PUT", &url, Some("text/plain"), Some(b"v"));
    assert_eq!(put.status, 400, "{}", put.body);
}
