//! Chaos: a load of unique-key writes and a compare-and-set counter through
//! all three servers, while the JetStream stream leader is killed (kill -9),
//! then one kv-store server, then both are started again. Afterwards every
//! acknowledged write is there, the counter equals the acknowledged
//! increments plus at most those answered `outcome_unknown` (or cut off by
//! the kill), the replicas agree, and writes resumed within 10 s of the
//! NATS node's loss.
//!
//! `KV_CHAOS_SECS` stretches the run (default 16 s; each phase scales).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::support::{agent, consistent_value, request_with, Cluster};

/// The stream that holds the log.
const STREAM: &str = "kvstore";
/// Unique-key writers and counter incrementers.
const WRITERS: usize = 3;
const INCREMENTERS: usize = 2;

/// What happened to the requests.
#[derive(Debug, Default)]
struct Tally {
    /// Unique keys acknowledged, with their values.
    acked: Mutex<HashMap<String, String>>,
    /// Counter increments acknowledged, and those whose outcome is unknown.
    increments: AtomicU64,
    maybe_increments: AtomicU64,
    /// When each acknowledged write was sent and answered (for the
    /// resumption time).
    acked_times: Mutex<Vec<(Instant, Instant)>>,
    /// Answers by status, for the report.
    statuses: Mutex<HashMap<String, u64>>,
}

impl Tally {
    fn count(&self, what: impl Into<String>) {
        *self
            .statuses
            .lock()
            .expect("not poisoned")
            .entry(what.into())
            .or_default() += 1;
    }
}

/// The servers' base URLs, updated as they stop and start.
type Bases = Arc<RwLock<Vec<Option<String>>>>;

/// The `n`-th running server after `start` (round robin over the live ones).
fn pick(bases: &Bases, n: usize) -> Option<String> {
    let bases = bases.read().expect("not poisoned");
    let live: Vec<&String> = bases.iter().flatten().collect();
    (!live.is_empty()).then(|| live[n % live.len()].clone())
}

fn unique_writer(id: usize, bases: Bases, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let agent = agent();
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        let Some(base) = pick(&bases, id + n) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let key = format!("u-{id}-{n}");
        let value = format!("{n}");
        let sent = Instant::now();
        match request_with(
            &agent,
            &base,
            "PUT",
            &format!("/v1/kv/{key}"),
            &[],
            Some(value.as_bytes()),
        ) {
            Ok(answer) if matches!(answer.status, 200 | 201) => {
                tally.acked.lock().expect("not poisoned").insert(key, value);
                tally
                    .acked_times
                    .lock()
                    .expect("not poisoned")
                    .push((sent, Instant::now()));
                tally.count("write acknowledged");
            }
            Ok(answer) => tally.count(format!("write {} {}", answer.status, error_code(&answer))),
            Err(_) => tally.count("write cut off"),
        }
        n += 1;
    }
}

fn error_code(answer: &kv_testkit::http::Answer) -> String {
    serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn incrementer(id: usize, bases: Bases, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let agent = agent();
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let Some(base) = pick(&bases, id + n) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(read) = request_with(
            &agent,
            &base,
            "GET",
            "/v1/kv/counter?consistent=true",
            &[],
            None,
        ) else {
            continue;
        };
        let (current, etag) = match read.status {
            200 => (
                read.text().parse::<u64>().expect("a number"),
                read.header("etag").expect("an etag").to_owned(),
            ),
            _ => continue,
        };
        let next = (current + 1).to_string();
        match request_with(
            &agent,
            &base,
            "PUT",
            "/v1/kv/counter",
            &[("if-match", etag.as_str())],
            Some(next.as_bytes()),
        ) {
            Ok(answer) if answer.status == 200 => {
                tally.increments.fetch_add(1, Ordering::Relaxed);
                tally.count("increment acknowledged");
            }
            Ok(answer) if answer.status == 412 => tally.count("increment lost the race"),
            Ok(answer) if answer.status == 504 => {
                tally.maybe_increments.fetch_add(1, Ordering::Relaxed);
                tally.count("increment 504 outcome_unknown");
            }
            Ok(answer) => tally.count(format!(
                "increment {} {}",
                answer.status,
                error_code(&answer)
            )),
            Err(_) => {
                tally.maybe_increments.fetch_add(1, Ordering::Relaxed);
                tally.count("increment cut off");
            }
        }
    }
}

/// Every key under `u-` and its value, read consistently from `base`.
fn unique_keys(base: &str) -> HashMap<String, String> {
    let agent = agent();
    let mut found = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = "/v1/kv?prefix=u-&limit=1000&consistent=true".to_owned();
        if let Some(after) = &after {
            path.push_str(&format!("&start_after={after}"));
        }
        let answer = request_with(&agent, base, "GET", &path, &[], None).expect("listing");
        assert_eq!(answer.status, 200, "{}", answer.text());
        let page = answer.json();
        for entry in page["entries"].as_array().expect("entries") {
            found.insert(
                entry["key"].as_str().expect("key").to_owned(),
                entry["value"].as_str().expect("value").to_owned(),
            );
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return found,
        }
    }
}

#[test]
fn acknowledged_writes_survive_a_stream_leader_and_a_server_killed() {
    let Some(mut cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let secs: u64 = std::env::var("KV_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let phase = Duration::from_millis(secs * 1000 / 4);
    let base0 = cluster.server(0).base_url();
    let created =
        request_with(&agent(), &base0, "PUT", "/v1/kv/counter", &[], Some(b"0")).expect("up");
    assert_eq!(created.status, 201, "{}", created.text());

    let bases: Bases = Arc::new(RwLock::new(cluster.bases()));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for id in 0..WRITERS {
        let (bases, tally, stop) = (Arc::clone(&bases), Arc::clone(&tally), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            unique_writer(id, bases, tally, stop)
        }));
    }
    for id in 0..INCREMENTERS {
        let (bases, tally, stop) = (Arc::clone(&bases), Arc::clone(&tally), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            incrementer(id, bases, tally, stop)
        }));
    }

    std::thread::sleep(phase);
    let leader = cluster
        .nats
        .stream_leader(STREAM)
        .expect("the stream has a leader");
    cluster.nats.kill(leader);
    let nats_lost = Instant::now();
    eprintln!("chaos: killed NATS node {leader}, the stream leader");

    std::thread::sleep(phase);
    let victim = 2;
    bases.write().expect("not poisoned")[victim] = None;
    cluster.kill_server(victim);
    eprintln!("chaos: killed server {victim}");

    std::thread::sleep(phase);
    cluster.nats.restart(leader);
    cluster.restart_server(victim);
    *bases.write().expect("not poisoned") = cluster.bases();
    eprintln!("chaos: NATS node {leader} and server {victim} started again");

    std::thread::sleep(phase);
    stop.store(true, Ordering::Release);
    for thread in threads {
        thread.join().expect("a load thread panicked");
    }

    let (rev, digest) = cluster.converged();
    let acked = tally.acked.lock().expect("not poisoned").clone();
    for base in cluster.bases().into_iter().flatten() {
        let held = unique_keys(&base);
        let lost: Vec<&String> = acked
            .iter()
            .filter(|(k, v)| held.get(*k) != Some(*v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            lost.is_empty(),
            "{base} lost {} acknowledged writes: {lost:?}",
            lost.len()
        );
    }
    let counter: u64 = String::from_utf8(consistent_value(&base0, "counter").expect("the counter"))
        .expect("text")
        .parse()
        .expect("a number");
    let increments = tally.increments.load(Ordering::Relaxed);
    let maybe = tally.maybe_increments.load(Ordering::Relaxed);
    assert!(
        increments <= counter && counter <= increments + maybe,
        "counter {counter}: {increments} increments acknowledged, {maybe} unknown"
    );
    // The first acknowledgement of a write sent after the node was lost.
    let resumed = tally
        .acked_times
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|(sent, _)| *sent > nats_lost)
        .map(|(_, answered)| answered.duration_since(nats_lost))
        .min()
        .expect("writes were acknowledged after the NATS node was lost");
    eprintln!(
        "chaos ({secs} s): {} unique writes acknowledged, none lost; counter {counter} = {increments} \
         acknowledged increments + {} of {maybe} unknown; the first write sent after the \
         leader's loss was acknowledged {resumed:?} after it; converged at revision {rev}, digest \
         {digest}; answers: {:?}",
        acked.len(),
        counter - increments,
        tally.statuses.lock().expect("not poisoned")
    );
    assert!(
        resumed <= Duration::from_secs(10),
        "writes resumed only {resumed:?} after the loss"
    );
}
