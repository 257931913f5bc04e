//! Crash safety with `--fsync always`: 32 writers hammer the server with
//! unique keys, the server is killed with SIGKILL at a pseudo-random moment
//! (a number of acknowledged writes drawn per cycle), and a server restarted
//! on the same data directory must hold every write that was acknowledged,
//! with its value and revision. Over many cycles, so the keys of every earlier
//! cycle are checked again after each crash.

use kv_testkit::Lcg;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kv_testkit::TestServer;
use serde_json::{json, Value};

/// Kill cycles in the suite; `KV_CRASH_CYCLES=N` runs a longer soak.
const CYCLES: u64 = 20;
const WRITERS: usize = 32;
/// Acknowledged writes before the kill: drawn per cycle in this range.
const MIN_ACKS: u64 = 20;
const MAX_ACKS: u64 = 400;
/// Threads that read the keys back after a restart.
const READERS: usize = 4;
/// How long a cycle may take to reach its number of acknowledged writes.
const ACK_DEADLINE: Duration = Duration::from_secs(30);
/// Room for the JSON and a little padding in each value.
const PADDING: &str = "0123456789abcdef0123456789abcdef";

/// A write the server acknowledged with 201.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    val: String,
    rev: u64,
}

/// A write that was sent but got no answer before the kill: it may or may
/// not have been committed. `next` is the key its thread would have written
/// after it, which was never sent and must not exist.
#[derive(Debug, Clone)]
struct InFlight {
    key: String,
    val: String,
    next: String,
}

/// What one writer thread saw.
#[derive(Debug, Default)]
struct WriterLog {
    acked: Vec<Acked>,
    in_flight: Option<InFlight>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn start_in(dir: &Path) -> TestServer {
    TestServer::start_in(
        env!("CARGO_BIN_EXE_server"),
        dir,
        &["--fsync", "always"],
        &[],
    )
}

fn key_of(cycle: u64, thread: usize, n: usize) -> String {
    format!("c{cycle}-t{thread}-{n}")
}

/// Writes unique keys until the server goes away. A 201 whose body was read
/// whole is acknowledged; a request that fails in transport is in flight and
/// ends the loop. Any other answer is a bug.
fn writer(base: String, cycle: u64, thread: usize, acks: Arc<AtomicUsize>) -> WriterLog {
    let agent = agent();
    let mut log = WriterLog::default();
    for n in 0.. {
        let key = key_of(cycle, thread, n);
        let val = format!("v{cycle}.{thread}.{n}-{PADDING}");
        let sent = agent
            .post(&format!("{base}/set"))
            .send_json(json!({"key": key, "val": val}));
        let body: Option<Value> = match sent {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().read_json::<Value>().ok();
                assert!(
                    status == 201 || body.is_none(),
                    "set {key} answered {status} {body:?} before the kill"
                );
                body
            }
            Err(_) => None,
        };
        let Some(body) = body else {
            log.in_flight = Some(InFlight {
                key,
                val,
                next: key_of(cycle, thread, n + 1),
            });
            break;
        };
        let rev = body["rev"]
            .as_u64()
            .unwrap_or_else(|| panic!("set {key} answered without a rev: {body}"));
        log.acked.push(Acked { key, val, rev });
        acks.fetch_add(1, Ordering::Relaxed);
    }
    log
}

/// Reads `key` back: `(value, mod_rev)`, or `None` when it is missing.
fn read(agent: &ureq::Agent, base: &str, key: &str) -> Option<(String, u64)> {
    let mut response = agent
        .get(&format!("{base}/get"))
        .query("key", key)
        .call()
        .unwrap_or_else(|e| panic!("get {key}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "get {key}");
    let body: Value = response
        .body_mut()
        .read_json()
        .unwrap_or_else(|e| panic!("get {key} answer: {e}"));
    if body["found"] != json!(true) {
        return None;
    }
    let val = body["inserted_val"]
        .as_str()
        .unwrap_or_else(|| panic!("get {key}: no inserted_val in {body}"))
        .to_owned();
    let rev = body["mod_rev"]
        .as_u64()
        .unwrap_or_else(|| panic!("get {key}: no mod_rev in {body}"));
    Some((val, rev))
}

/// Checks, with a few reader threads, that every acknowledged write is there
/// with its value and revision. Returns the mismatches.
fn missing_acked(base: &str, acked: &[Acked]) -> Vec<String> {
    let chunk = acked.len().div_ceil(READERS).max(1);
    std::thread::scope(|scope| {
        let readers: Vec<_> = acked
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let agent = agent();
                    part.iter()
                        .filter_map(|a| match read(&agent, base, &a.key) {
                            Some((val, rev)) if val == a.val && rev == a.rev => None,
                            found => Some(format!(
                                "{} acknowledged as {:?} at rev {}, found {found:?}",
                                a.key, a.val, a.rev
                            )),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        readers
            .into_iter()
            .flat_map(|r| r.join().expect("reader thread"))
            .collect()
    })
}

/// Checks the state after a restart: every acknowledged write of every
/// cycle so far, and the writes in flight at the last kill. Returns how many
/// of those in flight were committed after all.
fn check_after_restart(
    server: &TestServer,
    acked: &[Acked],
    in_flight: &[InFlight],
    crashes: u64,
) -> usize {
    let base = server.base_url();
    let missing = missing_acked(&base, acked);
    assert!(
        missing.is_empty(),
        "after {crashes} crashes, {} of {} acknowledged writes are lost or wrong; first ones:\n{}",
        missing.len(),
        acked.len(),
        missing[..missing.len().min(10)].join("\n")
    );
    let agent = agent();
    let mut committed = 0;
    for w in in_flight {
        if let Some((val, _)) = read(&agent, &base, &w.key) {
            committed += 1;
            assert_eq!(
                val, w.val,
                "the write of {} in flight at crash {crashes} came back with another value",
                w.key
            );
        }
        assert_eq!(
            read(&agent, &base, &w.next),
            None,
            "{} was never sent before crash {crashes}, yet it exists",
            w.next
        );
    }
    committed
}

/// Waits until `count` reaches `target`, polling, at most [`ACK_DEADLINE`].
fn wait_for_acks(count: &AtomicUsize, target: usize, cycle: u64) {
    let deadline = Instant::now() + ACK_DEADLINE;
    while count.load(Ordering::Relaxed) < target {
        assert!(
            Instant::now() < deadline,
            "cycle {cycle}: only {} of {target} writes acknowledged within {ACK_DEADLINE:?}",
            count.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn every_acknowledged_write_survives_repeated_kills() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut acked: Vec<Acked> = Vec::new();
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut max_rev = 0u64;
    let mut unacked_but_committed = 0;
    let cycles = std::env::var("KV_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CYCLES);
    for cycle in 0..cycles {
        let mut server = start_in(dir.path());
        unacked_but_committed += check_after_restart(&server, &acked, &in_flight, cycle);

        let target = (MIN_ACKS + Lcg(cycle + 1).draw() % (MAX_ACKS - MIN_ACKS + 1)) as usize;
        let acks = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (base, acks) = (server.base_url(), Arc::clone(&acks));
                std::thread::spawn(move || writer(base, cycle, t, acks))
            })
            .collect();
        wait_for_acks(&acks, target, cycle);
        server.kill();

        in_flight.clear();
        let before = acked.len();
        for w in writers {
            let log = w.join().expect("a writer thread panicked");
            acked.extend(log.acked);
            in_flight.extend(log.in_flight);
        }
        let new = &acked[before..];
        assert!(
            new.len() >= target,
            "cycle {cycle}: fewer acks than counted"
        );
        let revs: HashSet<u64> = new.iter().map(|a| a.rev).collect();
        assert_eq!(
            revs.len(),
            new.len(),
            "cycle {cycle}: a revision was acknowledged twice"
        );
        let lowest = revs.iter().min().copied().unwrap_or(u64::MAX);
        assert!(
            lowest > max_rev,
            "cycle {cycle}: revision {lowest} acknowledged again after a restart (the last cycle reached {max_rev})"
        );
        max_rev = revs.iter().max().copied().unwrap_or(max_rev);
    }
    let server = start_in(dir.path());
    unacked_but_committed += check_after_restart(&server, &acked, &in_flight, cycles);
    eprintln!(
        "crash test: {} acknowledged writes over {cycles} kill cycles, all present after restart; \
         {unacked_but_committed} of {} writes in flight at a kill were committed ({:.1?})",
        acked.len(),
        cycles as usize * WRITERS,
        began.elapsed()
    );
}
