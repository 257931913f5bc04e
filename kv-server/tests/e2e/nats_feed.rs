//! The change feed mirrored to a real `nats-server`: a subscriber of the
//! original subjects gets every change in revision order, and with a
//! JetStream stream an outage of NATS in the middle of the writes loses
//! nothing and duplicates nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use kv_core::api::WatchEvent;
use kv_pubsub::nats::{subscribe, NatsConfig};
use kv_testkit::NatsServer;
use serde_json::{json, Value};

use crate::feed_support::{assert_exactly, client_of, sorted_contiguous, Change, Lcg};
use crate::start;

/// How long the events may take to arrive.
const DEADLINE: Duration = Duration::from_secs(30);

/// Subscribes to the feed's subjects on `url` (replaying `stream` when
/// given) and forwards every event to the returned channel from a thread.
/// A stream that does not exist yet (the server creates it when it first
/// publishes) is waited for.
fn subscriber(url: &str, stream: Option<&str>) -> mpsc::Receiver<WatchEvent> {
    let config = NatsConfig {
        url: url.to_owned(),
        subject_prefix: String::new(),
        stream: stream.map(str::to_owned),
    };
    let deadline = Instant::now() + DEADLINE;
    let subscription = loop {
        match subscribe(&config) {
            Ok(subscription) => break subscription,
            Err(e) if stream.is_some() && Instant::now() < deadline => {
                assert!(
                    e.to_string().contains("stream not found"),
                    "subscribe to {url}: {e}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("subscribe to {url} (stream {stream:?}): {e}"),
        }
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some(event) = subscription.next() {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

/// Receives events until one at revision `last` or later has arrived.
fn receive_through(events: &mpsc::Receiver<WatchEvent>, last: u64, what: &str) -> Vec<Change> {
    let deadline = Instant::now() + DEADLINE;
    let mut got: Vec<Change> = Vec::new();
    while got.iter().all(|c| c.rev < last) {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => got.push(event.into()),
            Err(e) => panic!(
                "{what}: revision {last} did not arrive within {DEADLINE:?} ({e}); got {} events, \
                 the last {:?}",
                got.len(),
                got.last()
            ),
        }
    }
    got
}

#[test]
fn a_nats_subscriber_receives_every_change_in_order() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let server = start(&["--nats-url", &nats.url()]);
    let client = client_of(&server);
    let events = subscriber(&nats.url(), None);

    // A core NATS subscription only sees what is published after the
    // server registered it: write a probe until one comes through.
    let mut acked = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    let first = loop {
        let val = format!("probe-{}", acked.len());
        let rev = client.set("probe", &val).expect("set probe").rev;
        acked.push(Change::set(rev, "probe", &val));
        match events.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => break Change::from(event),
            Err(mpsc::RecvTimeoutError::Timeout) => assert!(
                Instant::now() < deadline,
                "no event reached the NATS subscriber within {DEADLINE:?}"
            ),
            Err(e) => panic!("the NATS subscriber stopped: {e}"),
        }
    };

    let mut rng = Lcg(42);
    for i in 0..500 {
        let key = format!("k{}", rng.draw() % 30);
        if rng.draw().is_multiple_of(3) {
            let answer = client.rm(&key).expect("rm");
            if answer.removed {
                acked.push(Change::rm(answer.rev, &key));
            }
        } else {
            let val = format!("v{i}");
            let rev = client.set(&key, &val).expect("set").rev;
            acked.push(Change::set(rev, &key, &val));
        }
    }
    let acked = sorted_contiguous(acked, 1);
    let last = acked.last().expect("writes").rev;
    let mut got = vec![first.clone()];
    got.extend(receive_through(&events, last, "the NATS subscriber"));
    let expected: Vec<Change> = acked.into_iter().filter(|c| c.rev >= first.rev).collect();
    assert!(
        expected.iter().filter(|c| c.op == "rm").count() > 50,
        "too few removals to test"
    );
    assert_exactly("the NATS subscriber", &got, &expected);
}

#[test]
fn a_nats_outage_loses_nothing() {
    const WRITES: usize = 600;
    const STOP_AT: usize = 200;
    const RESTART_AT: usize = 400;
    const WRITERS: usize = 4;
    let Some(mut nats) = NatsServer::start_jetstream() else {
        return;
    };
    let server = start(&["--nats-url", &nats.url(), "--nats-stream", "KV"]);
    // The publisher connects in the background (the nats crate waits up to
    // a second before its first attempt): make sure it publishes, so that
    // NATS goes down under a live connection and not before it.
    let probe = client_of(&server).set("probe", "p").expect("set probe").rev;
    assert_eq!(probe, 1);
    let first = receive_through(&subscriber(&nats.url(), Some("KV")), 1, "the probe");
    let mut acked = vec![Change::set(1, "probe", "p")];
    assert_exactly("the probe", &first, &acked);
    let done = Arc::new(AtomicUsize::new(0));
    // Several writers, so the publisher has events in flight when NATS
    // goes down.
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (base, done) = (server.base_url(), Arc::clone(&done));
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                (0..WRITES / WRITERS)
                    .map(|i| {
                        let (key, val) = (format!("k{t}-{}", i % 37), format!("v{t}-{i}"));
                        let mut answer = agent
                            .post(&format!("{base}/set"))
                            .send_json(json!({"key": key, "val": val}))
                            .unwrap_or_else(|e| panic!("set {key}: {e}"));
                        let status = answer.status().as_u16();
                        let body: Value = answer.body_mut().read_json().expect("a JSON answer");
                        assert_eq!(status, 201, "set {key} while NATS comes and goes: {body}");
                        done.fetch_add(1, Ordering::Relaxed);
                        Change::set(body["rev"].as_u64().expect("rev"), &key, &val)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let wait_for = |count: usize| {
        let deadline = Instant::now() + DEADLINE;
        while done.load(Ordering::Relaxed) < count && !writers.iter().all(|w| w.is_finished()) {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} writes answered within {DEADLINE:?}",
                done.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    wait_for(STOP_AT);
    nats.stop();
    let stopped_at = done.load(Ordering::Relaxed);
    wait_for(RESTART_AT);
    let restarted_at = done.load(Ordering::Relaxed);
    nats.restart();
    for writer in writers {
        acked.extend(writer.join().expect("a writer panicked"));
    }
    let acked = sorted_contiguous(acked, 1);
    assert_eq!(acked.len(), WRITES + 1);
    assert!(
        restarted_at - stopped_at >= 100,
        "only {} writes happened while NATS was down (from write {stopped_at} to {restarted_at})",
        restarted_at - stopped_at
    );

    let events = subscriber(&nats.url(), Some("KV"));
    let got = receive_through(&events, WRITES as u64 + 1, "the JetStream replay");
    assert_exactly("the JetStream stream KV", &got, &acked);
    eprintln!(
        "nats: NATS was down from write {stopped_at} to {restarted_at} of {WRITES}; \
         the stream holds every revision exactly once"
    );
}

/// With NATS gone, writes still succeed and SIGTERM still stops the server
/// promptly and cleanly: the publisher never holds up a write or shutdown.
#[test]
fn nats_down_never_holds_up_writes_or_shutdown() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let mut server = start(&["--nats-url", &nats.url()]);
    let set = |key: &str| {
        let reply =
            kv_testkit::http::post_json(&server.url("/set"), &json!({"key": key, "val": "v"}));
        assert_eq!(reply.status, 201, "{}", reply.body);
    };
    set("before");
    nats.stop();
    for i in 0..50 {
        set(&format!("during-{i}"));
    }
    let asked = Instant::now();
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0));
    // The publisher gets at most a few seconds to deliver what is left.
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "shutdown took {:?} with NATS down",
        asked.elapsed()
    );
}

/// `GET /`'s `nats` object.
fn nats_state(server: &kv_testkit::TestServer) -> Value {
    kv_testkit::http::get(&server.url("/")).json()["nats"].clone()
}

#[test]
fn an_unreachable_nats_is_warned_about_shown_and_does_not_hold_the_stop_up() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut server = crate::start_with_env(&["--nats-url", &url], &[("RUST_LOG", "warn")]);
    let client = client_of(&server);
    client.set("k", "v").expect("writes go on without NATS");
    // The first attempt fails in the background; GET / says why.
    let deadline = Instant::now() + DEADLINE;
    let state = loop {
        let state = nats_state(&server);
        if state.get("error").is_some() {
            break state;
        }
        assert!(Instant::now() < deadline, "no NATS error shown: {state}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (&state["connected"], &state["queued"], &state["dropped"]),
        (&json!(false), &json!(1), &json!(0))
    );
    assert!(
        state["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{state}"
    );
    let metrics = kv_testkit::http::get(&server.url("/metrics")).body;
    assert!(metrics.contains("kvstore_nats_connected 0"), "{metrics}");
    assert!(
        metrics.contains("kvstore_nats_publish_lag_revisions 1"),
        "{metrics}"
    );
    let asked = Instant::now();
    server.signal("INT");
    assert_eq!(server.wait().code(), Some(0));
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(3), "the stop took {took:?}");
    let log = server.kill_and_stderr();
    assert!(
        log.contains(&format!("NATS at {url}: cannot connect")),
        "{log}"
    );
}

#[test]
fn a_connected_nats_is_shown_by_the_root_route() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let server = start(&["--nats-url", &nats.url()]);
    let rev = client_of(&server).set("k", "v").expect("set").rev;
    let deadline = Instant::now() + DEADLINE;
    while nats_state(&server) != json!({"connected": true, "queued": 0, "dropped": 0}) {
        assert!(
            Instant::now() < deadline,
            "revision {rev} never confirmed: {}",
            nats_state(&server)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let plain = crate::start(&[]);
    let root = kv_testkit::http::get(&plain.url("/")).json();
    assert!(root.get("nats").is_none(), "no NATS, no field: {root}");
}
