//! How long opening a data directory takes: recovery of 100,000 keys
//! (12-byte keys, 100-byte values), as the server does it at startup,
//! before it is ready.
//!
//! - `recovery/log`: no snapshot; one 17.7 MB log segment of 100,000
//!   records (one set per revision, keys in a scattered order) replayed
//!   into an empty store.
//! - `recovery/snapshot`: a snapshot of the same 100,000 keys and an empty
//!   log, as compaction leaves it.
//!
//! Each iteration locks the directory ([`DataDir::open`]) and runs
//! [`recover`] into a new 64-shard store; dropping that store is not timed.
//! The files are read from the page cache (a warm restart). Throughput is
//! in keys per second.
//!
//! ```sh
//! cargo bench -p kv-server --bench recovery -- --warm-up-time 1 --measurement-time 3
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kv_core::codec::encode_changes;
use kv_core::{Command, Limits, Store};
use kv_server::storage::recovery::recover;
use kv_server::storage::segment::SegmentWriter;
use kv_server::storage::snapshot::write_snapshot_file;
use kv_server::storage::DataDir;

const KEYS: usize = 100_000;
const VALUE_BYTES: usize = 100;
const SHARDS: usize = 64;

/// The name of the `i`th key written: the keys are written in a scattered
/// order (a real log is not sorted), every one once.
fn key_name(i: usize) -> String {
    // 7919 is prime and does not divide KEYS: a permutation of 0..KEYS.
    format!("key-{:08}", i * 7919 % KEYS)
}

/// Writes a log of `KEYS` sets to `path`, in batches of 1,000 as a busy
/// writer would; then, with `snapshot`, a snapshot of the result in place
/// of the log.
fn write_data_dir(path: &Path, snapshot: bool) {
    let dir = DataDir::open(path).expect("open the data directory");
    let (store, mut writer) = Store::new(SHARDS, Limits::default()).expect("valid shard count");
    let mut segment = SegmentWriter::create(&dir, 1).expect("create a segment");
    let mut buf = Vec::new();
    let value = vec![b'v'; VALUE_BYTES];
    for first in (0..KEYS).step_by(1000) {
        let batch = writer.prepare(
            (first..first + 1000).map(|i| Command::set(key_name(i), value.clone())),
            0,
        );
        buf.clear();
        encode_changes(&batch.changes, &mut buf);
        segment.append(&buf).expect("append");
        writer.apply(&batch);
    }
    segment.finish().expect("sync the segment");
    if snapshot {
        write_snapshot_file(&dir, &store, store.revision()).expect("write the snapshot");
        std::fs::remove_file(segment.path()).expect("remove the log it replaces");
    }
}

/// Opens `path` `iters` times, timing the recovery alone.
fn recover_times(path: &Path, iters: u64) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let (store, mut writer) = Store::new(SHARDS, Limits::default()).expect("valid shard count");
        let began = Instant::now();
        let dir = DataDir::open(path).expect("open the data directory");
        let recovered = recover(&dir, &mut writer, false).expect("recover");
        timed += began.elapsed();
        assert_eq!(store.len(), KEYS);
        drop((recovered, dir, writer, store));
    }
    timed
}

fn recovery(c: &mut Criterion) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(KEYS as u64));
    for (name, snapshot) in [("log", false), ("snapshot", true)] {
        let path = work.path().join(name);
        write_data_dir(&path, snapshot);
        group.bench_function(name, |b| b.iter_custom(|iters| recover_times(&path, iters)));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default; flags such as --measurement-time override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = recovery
}
criterion_main!(benches);
