//! What the store costs per key operation, by shard count (1, 16, 64) and
//! thread count (1, 2), on 10,000 keys with 100-byte values.
//!
//! - `get`: [`Store::get`] of a random key, on 1 or 2 reader threads at
//!   once (what every read handler does). With 2 threads an iteration is
//!   one get on each, and the throughput counts both.
//! - `set`: a batch of 64 overwrites of random keys evaluated and applied,
//!   [`StoreWriter::prepare`] then [`StoreWriter::apply`]: what the commit
//!   pipeline does per batch, without the log. With 2 threads a reader
//!   thread does gets all the while. Building the commands (the handlers'
//!   work) is not timed.
//! - `rm`: the same with 64 removals of existing keys (put back, untimed,
//!   after each batch).
//!
//! Throughput is in key operations per second; the time is per iteration
//! (one get per thread, or one batch of 64).
//!
//! ```sh
//! cargo bench -p kv-core --bench store -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p kv-core --bench store -- 'get/shards=64'   # one part
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kv_core::{Command, Limits, Store, StoreWriter};

const SHARDS: [usize; 3] = [1, 16, 64];
const THREADS: [usize; 2] = [1, 2];
const KEYS: usize = 10_000;
const VALUE_BYTES: usize = 100;
/// Commands per write batch (the pipeline takes up to `--max-batch`
/// queued writes at once; 64 is a busy server's typical batch here).
const BATCH: usize = 64;

/// A small deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn key_names() -> Vec<String> {
    (0..KEYS).map(|i| format!("key-{i:08}")).collect()
}

/// A store with `shards` shards holding every key of `keys`.
fn loaded_store(shards: usize, keys: &[String]) -> (Store, StoreWriter) {
    let (store, mut writer) = Store::new(shards, Limits::default()).expect("valid shard count");
    let value = vec![b'v'; VALUE_BYTES];
    for chunk in keys.chunks(1000) {
        let batch = writer.prepare(
            chunk.iter().map(|k| Command::set(k.clone(), value.clone())),
            0,
        );
        writer.apply(&batch);
    }
    assert_eq!(store.len(), keys.len());
    (store, writer)
}

fn id(shards: usize, threads: usize) -> BenchmarkId {
    BenchmarkId::new(format!("shards={shards}"), format!("threads={threads}"))
}

/// `iters` gets on each of `threads` threads, started together; the time
/// of the slowest.
fn run_readers(store: &Store, keys: &[String], threads: usize, iters: u64) -> Duration {
    let start_line = Barrier::new(threads);
    thread::scope(|scope| {
        let readers: Vec<_> = (0..threads)
            .map(|t| {
                let start_line = &start_line;
                scope.spawn(move || {
                    let mut rng = Rng::new(t as u64 + 1);
                    start_line.wait();
                    let began = Instant::now();
                    for _ in 0..iters {
                        let key = &keys[rng.below(keys.len())];
                        black_box(store.get(black_box(key), 0).expect("valid key"));
                    }
                    began.elapsed()
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("reader thread"))
            .max()
            .unwrap_or_default()
    })
}

/// Runs `work`, with a thread doing gets meanwhile when `reader` is set.
fn with_reader<R>(reader: bool, store: &Store, keys: &[String], work: impl FnOnce() -> R) -> R {
    if !reader {
        return work();
    }
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut rng = Rng::new(99);
            while !stop.load(Ordering::Relaxed) {
                black_box(
                    store
                        .get(&keys[rng.below(keys.len())], 0)
                        .expect("valid key"),
                );
            }
        });
        let result = work();
        stop.store(true, Ordering::Relaxed);
        result
    })
}

fn get(c: &mut Criterion) {
    let keys = key_names();
    let mut group = c.benchmark_group("get");
    for shards in SHARDS {
        let (store, _writer) = loaded_store(shards, &keys);
        for threads in THREADS {
            group.throughput(Throughput::Elements(threads as u64));
            group.bench_function(id(shards, threads), |b| {
                b.iter_custom(|iters| run_readers(&store, &keys, threads, iters));
            });
        }
    }
    group.finish();
}

fn set(c: &mut Criterion) {
    let keys = key_names();
    let value = vec![b'w'; VALUE_BYTES];
    let mut group = c.benchmark_group("set");
    group.throughput(Throughput::Elements(BATCH as u64));
    for shards in SHARDS {
        let (store, mut writer) = loaded_store(shards, &keys);
        for threads in THREADS {
            let mut rng = Rng::new(7);
            group.bench_function(id(shards, threads), |b| {
                b.iter_custom(|iters| {
                    with_reader(threads == 2, &store, &keys, || {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            let commands: Vec<Command> = (0..BATCH)
                                .map(|_| {
                                    let key = &keys[rng.below(keys.len())];
                                    Command::set(key.clone(), value.clone())
                                })
                                .collect();
                            let began = Instant::now();
                            let batch = writer.prepare(commands, 0);
                            writer.apply(&batch);
                            timed += began.elapsed();
                            drop(black_box(batch));
                        }
                        timed
                    })
                });
            });
        }
    }
    group.finish();
}

fn rm(c: &mut Criterion) {
    let keys = key_names();
    let value = vec![b'v'; VALUE_BYTES];
    let mut group = c.benchmark_group("rm");
    group.throughput(Throughput::Elements(BATCH as u64));
    for shards in SHARDS {
        let (store, mut writer) = loaded_store(shards, &keys);
        for threads in THREADS {
            let mut next = 0;
            group.bench_function(id(shards, threads), |b| {
                b.iter_custom(|iters| {
                    with_reader(threads == 2, &store, &keys, || {
                        let mut timed = Duration::ZERO;
                        for _ in 0..iters {
                            // 64 distinct keys, scattered over the shards.
                            let batch_keys: Vec<&String> = (0..BATCH)
                                .map(|j| &keys[(next + j * 157) % keys.len()])
                                .collect();
                            next = (next + 1) % keys.len();
                            let commands: Vec<Command> =
                                batch_keys.iter().map(|k| Command::rm(*k)).collect();
                            let began = Instant::now();
                            let batch = writer.prepare(commands, 0);
                            writer.apply(&batch);
                            timed += began.elapsed();
                            debug_assert_eq!(batch.changes.len(), BATCH);
                            drop(black_box(batch));
                            let restore = writer.prepare(
                                batch_keys.iter().map(|k| Command::set(*k, value.clone())),
                                0,
                            );
                            writer.apply(&restore);
                        }
                        timed
                    })
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default; flags such as --measurement-time override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = get, set, rm
}
criterion_main!(benches);
