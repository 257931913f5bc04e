//! The one-machine topology: HAProxy running the shipped
//! `docker/haproxy.cfg` in front of the server, which publishes to NATS.
//! Under a steady write and read load through HAProxy, the server is
//! restarted (graceful stop, then a new process on the same port and data)
//! three times: no request may fail at the client, and every acknowledged
//! write must read back with its value.
//!
//! Once as systemd runs it (`deploy/kv-store.socket`): the test holds the
//! listening socket and passes it to each server process (socket
//! activation), so while no server runs, connections wait in the socket's
//! backlog for the next one instead of being refused. And once as Docker
//! Compose runs it: each process binds the port itself, and HAProxy's
//! retries carry the requests over the gap (see docker/haproxy.cfg). The
//! two run one after the other, not side by side, so that neither slows the
//! other's restarts.
//!
//! Needs `haproxy` and `nats-server` (`apt-get install -y haproxy
//! nats-server`; `.ci/run` installs them). Without them it says so and
//! skips, except under `CI=true`, where it fails.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kv_testkit::haproxy::READY_TIMEOUT;
use kv_testkit::{Haproxy, Lcg, NatsServer, TestServer};
use serde_json::{json, Value};

/// Server restarts under load.
const RESTARTS: usize = 3;
/// Client threads, each writing and reading through HAProxy.
const CLIENTS: u64 = 4;
/// Writes acknowledged by each new server process before the next restart,
/// so that every process really serves the load.
const WRITES_PER_PROCESS: u64 = 300;
/// The load stops by itself after this, whatever happens.
const LOAD_LIMIT: Duration = Duration::from_secs(60);
/// Failure messages kept for the report (all are counted).
const FAILURES_KEPT: usize = 20;

/// Held by the running test: one topology at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How each server process gets its listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socket {
    /// The test keeps one socket open and passes it to every process, as a
    /// systemd socket unit does.
    Kept,
    /// Every process binds the same port anew, as in Docker Compose.
    New,
}

#[test]
fn restarts_on_a_kept_socket_behind_haproxy_fail_no_request_and_lose_no_write() {
    restarts_behind_haproxy(Socket::Kept);
}

#[test]
fn restarts_on_a_new_socket_behind_haproxy_fail_no_request_and_lose_no_write() {
    restarts_behind_haproxy(Socket::New);
}

/// What one client thread did.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    reads: u64,
    /// Every acknowledged write: (key, value).
    acked: Vec<(String, String)>,
    failures: u64,
    first_failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.first_failures.len() < FAILURES_KEPT {
            self.first_failures.push(what);
        }
    }
}

/// What the client threads report while they run.
#[derive(Debug, Default)]
struct Progress {
    /// Writes acknowledged, all clients together.
    acked: AtomicU64,
    /// Requests completed (answered or failed), per client.
    done: Vec<AtomicU64>,
}

impl Progress {
    fn new(clients: u64) -> Progress {
        Progress {
            acked: AtomicU64::new(0),
            done: (0..clients).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn done(&self) -> Vec<u64> {
        self.done
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .collect()
    }
}

/// Writes unique keys through `base` and reads back earlier acknowledged
/// ones, until `stop` is set. Every request must answer 2xx.
fn client(base: String, id: u64, stop: Arc<AtomicBool>, progress: Arc<Progress>) -> Tally {
    let agent = kv_testkit::http::agent();
    let mut rng = Lcg(id + 1);
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LOAD_LIMIT {
        n += 1;
        let key = format!("c{id}/{n:06}");
        let val = format!("v{id}-{n}-{}", rng.draw());
        tally.requests += 1;
        match agent
            .post(&format!("{base}/set"))
            .send_json(json!({"key": key, "val": val}))
        {
            Ok(mut response) if response.status() == 201 => {
                let _ = response.body_mut().read_to_string();
                tally.acked.push((key, val));
                progress.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(mut response) => {
                let status = response.status();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                tally.fail(format!("set {key}: {status} {body}"));
            }
            Err(e) => tally.fail(format!("set {key}: {e}")),
        }
        progress.done[id as usize].fetch_add(1, Ordering::Relaxed);

        let Some((key, val)) = pick(&tally.acked, &mut rng).cloned() else {
            continue;
        };
        tally.requests += 1;
        tally.reads += 1;
        match agent.get(&format!("{base}/get")).query("key", &key).call() {
            Ok(mut response) if response.status() == 200 => {
                let body: Value = response.body_mut().read_json().unwrap_or_default();
                if body["inserted_val"].as_str() != Some(val.as_str()) {
                    tally.fail(format!("get {key}: expected {val:?}, got {body}"));
                }
            }
            Ok(mut response) => {
                let status = response.status();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                tally.fail(format!("get {key}: {status} {body}"));
            }
            Err(e) => tally.fail(format!("get {key}: {e}")),
        }
        progress.done[id as usize].fetch_add(1, Ordering::Relaxed);
    }
    tally
}

fn pick<'a, T>(items: &'a [T], rng: &mut Lcg) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.draw() as usize % items.len()])
}

/// Waits until the server process that just came up has really served the
/// load: [`WRITES_PER_PROCESS`] more writes acknowledged, and every client
/// has completed two more requests. The second condition means that the
/// requests HAProxy held during the restart have all been answered (each
/// client has one request at a time), so the next restart cannot catch them
/// again, as deploy/rolling-restart.sh's settling pause ensures in
/// production.
fn wait_served(progress: &Progress, what: &str) {
    let (acked, done) = (progress.acked.load(Ordering::Relaxed), progress.done());
    let deadline = Instant::now() + LOAD_LIMIT;
    loop {
        let now_done = progress.done();
        let now_acked = progress.acked.load(Ordering::Relaxed);
        if now_acked >= acked + WRITES_PER_PROCESS
            && now_done.iter().zip(&done).all(|(n, d)| *n >= d + 2)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {WRITES_PER_PROCESS} writes acknowledged, requests per client {done:?} -> {now_done:?}, within {LOAD_LIMIT:?}",
            now_acked - acked
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every key under `prefix` with its value, read through `base` a page at
/// a time (`GET /v1/kv?prefix=`).
fn list_all(base: &str, prefix: &str) -> HashMap<String, String> {
    let agent = kv_testkit::http::agent();
    let mut all = HashMap::new();
    let mut start_after: Option<String> = None;
    loop {
        let mut request = agent
            .get(&format!("{base}/v1/kv"))
            .query("prefix", prefix)
            .query("limit", "1000");
        if let Some(after) = &start_after {
            request = request.query("start_after", after);
        }
        let mut response = request.call().expect("list through HAProxy");
        assert_eq!(response.status(), 200, "list through HAProxy");
        let page: Value = response.body_mut().read_json().expect("a JSON page");
        for entry in page["entries"].as_array().expect("entries") {
            all.insert(
                entry["key"].as_str().expect("key").to_owned(),
                entry["value"].as_str().expect("a UTF-8 value").to_owned(),
            );
        }
        match page["next"].as_str() {
            Some(next) => start_after = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Three restarts under load behind HAProxy, each process on `socket`.
fn restarts_behind_haproxy(socket: Socket) {
    let _one_at_a_time = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let test_started = Instant::now();
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_server");
    let dir = tempfile::tempdir().expect("a data directory");
    let nats_url = nats.url();
    let env = [("KVSTORE_NATS_HOST", nats_url.as_str())];
    // Every process listens on the same port and gets the same data
    // directory, as a restarted service would. The socket is open for the
    // whole test, and kept for the server processes or closed at once.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listening socket");
    let host = listener.local_addr().expect("its address").to_string();
    let listener = (socket == Socket::Kept).then_some(listener);
    let start = || match &listener {
        Some(listener) => TestServer::start_with_listener(bin, dir.path(), listener, &[], &env),
        None => TestServer::start_in(bin, dir.path(), &["--host", &host], &env),
    };
    let mut server = start();
    let Some(mut lb) = Haproxy::start(server.addr()) else {
        return;
    };

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (base, stop, progress) = (lb.base_url(), Arc::clone(&stop), Arc::clone(&progress));
            std::thread::spawn(move || client(base, id, stop, progress))
        })
        .collect();

    let mut timings = Vec::new();
    for restart in 1..=RESTARTS {
        wait_served(&progress, &format!("before restart {restart}"));

        let stopping = Instant::now();
        server.signal("TERM");
        let status = server.wait();
        assert!(
            status.success(),
            "restart {restart}: the server exited with {status}"
        );
        let stopped = stopping.elapsed();
        drop(server);

        let starting = Instant::now();
        server = start();
        let started = starting.elapsed();
        // As deploy/rolling-restart.sh does: the next restart only once
        // HAProxy's checks see this process healthy.
        lb.wait_server_up(READY_TIMEOUT);
        timings.push(format!(
            "restart {restart}: stop {stopped:.2?}, start {started:.2?}, UP in HAProxy after {:.2?}",
            starting.elapsed()
        ));
    }
    wait_served(&progress, "after the last restart");
    stop.store(true, Ordering::Relaxed);

    let tallies: Vec<Tally> = clients
        .into_iter()
        .map(|c| c.join().expect("a client thread panicked"))
        .collect();
    let requests: u64 = tallies.iter().map(|t| t.requests).sum();
    let reads: u64 = tallies.iter().map(|t| t.reads).sum();
    let failures: u64 = tallies.iter().map(|t| t.failures).sum();
    let writes: Vec<&(String, String)> = tallies.iter().flat_map(|t| &t.acked).collect();
    let haproxy_log = lb.log();
    println!("{socket:?} socket:");
    for line in &timings {
        println!("{line}");
    }
    println!(
        "{requests} requests through HAProxy ({} writes acknowledged, {reads} reads), \
         {RESTARTS} restarts, {failures} failed; HAProxy logged {} retried or failed requests",
        writes.len(),
        haproxy_log.len()
    );
    assert_eq!(
        failures,
        0,
        "requests failed at the client; the first ones:\n{}\nHAProxy's log:\n{}",
        tallies
            .iter()
            .flat_map(|t| &t.first_failures)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
        haproxy_log.join("\n")
    );

    // Every acknowledged write is there, with its value, after the restarts.
    let stored = list_all(&lb.base_url(), "c");
    let lost: Vec<_> = writes
        .iter()
        .filter(|(key, val)| stored.get(key) != Some(val))
        .collect();
    println!(
        "{} acknowledged writes checked after the restarts: {} lost; {} keys stored; {:.1?} in all",
        writes.len(),
        lost.len(),
        stored.len(),
        test_started.elapsed()
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost or changed, such as {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}
