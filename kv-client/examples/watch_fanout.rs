//! Load tool: N watchers on the change feed, and the delivery latency from a
//! write's acknowledgement to each watcher's receipt.
//!
//! ```text
//! cargo run --release --example watch_fanout -- HOST [WATCHERS] [SECONDS]
//! ```
//!
//! Opens WATCHERS watch streams, then for SECONDS runs one probe writer that
//! records when each of its writes was acknowledged, while the watchers count
//! every event they receive (whoever wrote it: run a load such as wrk beside
//! it, see `bench/watch-fanout.sh`). Prints events/s delivered to all
//! watchers and the p50/p99/max of (receipt - acknowledgement) over the
//! probe's writes, as seen by every watcher. A negative value means the
//! event reached the watcher before the writer had read its answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use kv_client::watch::{WatchItem, WatchParams};
use kv_client::KvClient;
use kv_core::address::ServerAddr;

/// The probe writer's key; watchers time only events on it.
const PROBE_KEY: &str = "watch-fanout-probe";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: ServerAddr = args
        .get(1)
        .map_or("127.0.0.1:8000", String::as_str)
        .parse()
        .expect("a server address");
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (watchers, seconds) = (arg(2, 100) as usize, arg(3, 10));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(watchers + 1));
    let delivered = Arc::new(AtomicU64::new(0));
    // (revision, microseconds since start) of each receipt of a probe event.
    let receipts = Arc::new(Mutex::new(Vec::<(u64, i64)>::new()));
    let threads: Vec<_> = (0..watchers)
        .map(|_| {
            let client = KvClient::new(&addr);
            let (stop, ready) = (Arc::clone(&stop), Arc::clone(&ready));
            let (delivered, receipts) = (Arc::clone(&delivered), Arc::clone(&receipts));
            std::thread::spawn(move || {
                let stream = client.watch(&WatchParams::default(), None).expect("watch");
                let mut mine = Vec::new();
                let mut first = true;
                for item in stream {
                    if first {
                        // The opening progress event: this stream is live.
                        ready.wait();
                        first = false;
                    }
                    if let Ok(WatchItem::Event(event)) = item {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        if event.key == PROBE_KEY {
                            mine.push((event.rev, start.elapsed().as_micros() as i64));
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                receipts.lock().expect("receipts").extend(mine);
            })
        })
        .collect();
    ready.wait();
    let probe = KvClient::new(&addr);
    let mut acks: HashMap<u64, i64> = HashMap::new();
    let before = delivered.load(Ordering::Relaxed);
    let began = Instant::now();
    let deadline = began + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let answer = probe.set(PROBE_KEY, "p").expect("probe write");
        acks.insert(answer.rev, start.elapsed().as_micros() as i64);
        std::thread::sleep(Duration::from_millis(2));
    }
    let events = delivered.load(Ordering::Relaxed) - before;
    let elapsed = began.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    // One more write wakes every watcher so it sees the stop flag.
    let _ = probe.set(PROBE_KEY, "stop");
    for thread in threads {
        let _ = thread.join();
    }
    let mut latencies: Vec<i64> = receipts
        .lock()
        .expect("receipts")
        .iter()
        .filter_map(|(rev, at)| acks.get(rev).map(|ack| at - ack))
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    println!(
        "{watchers} watchers: {:.0} events/s delivered; ack-to-receipt latency p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms ({} samples from {} probe writes)",
        events as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len(),
        acks.len()
    );
}
