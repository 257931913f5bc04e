//! Load tool: write throughput with and without many watchers, and the
//! delivery latency from a write's acknowledgement to each watcher's receipt.
//!
//! ```text
//! cargo run --release --example watch_fanout -- HOST [WATCHERS] [WRITERS] [SECONDS]
//! ```
//!
//! Phase 1 runs WRITERS blocking writers (one connection each) for SECONDS
//! with no watcher. Phase 2 opens WATCHERS watch streams, then runs the same
//! writers again. It prints writes/s for both phases, events/s delivered to
//! all watchers, and p50/p99 delivery latency (sampled on every 8th
//! revision).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use kv_client::watch::{WatchItem, WatchParams};
use kv_client::KvClient;

/// Revisions whose ack times are kept (the run must stay below this).
const MAX_REVS: usize = 4_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let host = args.get(1).map_or("127.0.0.1:8000", String::as_str);
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (watchers, writers, seconds) = (arg(2, 100), arg(3, 64), arg(4, 10));
    let addr: kv_core::address::ServerAddr = host.parse().expect("a server address");
    // One client (so one connection pool) per thread: a shared pool would
    // keep only a few idle connections and reconnect for the rest.
    let client = KvClient::new(&addr);
    let start = Instant::now();
    let acks: Arc<Vec<AtomicU64>> = Arc::new((0..MAX_REVS).map(|_| AtomicU64::new(0)).collect());

    let alone = write_phase(&addr, writers, seconds, &acks, start);
    println!("writes without watchers: {alone:.0}/s");

    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(watchers + 1));
    let delivered = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let threads: Vec<_> = (0..watchers)
        .map(|_| {
            let (client, stop, ready) =
                (KvClient::new(&addr), Arc::clone(&stop), Arc::clone(&ready));
            let (acks, delivered, latencies) = (
                Arc::clone(&acks),
                Arc::clone(&delivered),
                Arc::clone(&latencies),
            );
            std::thread::spawn(move || {
                let stream = client.watch(&WatchParams::default(), None).expect("watch");
                let mut mine = Vec::new();
                let mut first = true;
                for item in stream {
                    if first {
                        // The opening progress event: the stream is live.
                        ready.wait();
                        first = false;
                    }
                    if let Ok(WatchItem::Event(event)) = item {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        let rev = event.rev as usize;
                        if rev.is_multiple_of(8) && rev < MAX_REVS {
                            let now = start.elapsed().as_micros() as u64;
                            let acked = acks[rev].load(Ordering::Acquire);
                            // Zero: delivered before its writer saw the ack.
                            mine.push(now.saturating_sub(acked.max(1)) * u64::from(acked != 0));
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                latencies.lock().expect("latencies").extend(mine);
            })
        })
        .collect();
    ready.wait();
    let before = delivered.load(Ordering::Relaxed);
    let with = write_phase(&addr, writers, seconds, &acks, start);
    let events = delivered.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    // One more write wakes every watcher so it sees the stop flag.
    let _ = client.set("watch-fanout-stop", "1");
    for thread in threads {
        let _ = thread.join();
    }
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "writes with {watchers} watchers: {with:.0}/s ({:.2} of the run without)",
        with / alone
    );
    println!(
        "events delivered: {:.0}/s; delivery latency p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        events as f64 / seconds as f64,
        pct(0.50) as f64 / 1000.0,
        pct(0.99) as f64 / 1000.0,
        lat.len()
    );
}

/// Runs `writers` threads of sequential sets for `seconds`; returns writes/s.
fn write_phase(
    addr: &kv_core::address::ServerAddr,
    writers: usize,
    seconds: usize,
    acks: &Arc<Vec<AtomicU64>>,
    start: Instant,
) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let began = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (client, acks) = (KvClient::new(addr), Arc::clone(acks));
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < deadline {
                    let answer = client
                        .set(&format!("fanout-{w}-{}", count % 1000), "v")
                        .expect("set");
                    if let Some(slot) = acks.get(answer.rev as usize) {
                        slot.store(start.elapsed().as_micros() as u64, Ordering::Release);
                    }
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().expect("writer")).sum();
    total as f64 / began.elapsed().as_secs_f64()
}
