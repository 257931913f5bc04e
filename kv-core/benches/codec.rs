//! What the log and snapshot formats cost to encode and decode, for a
//! batch of 1 and of 64 records, each one put of a 12-byte key and a
//! 100-byte value (177 bytes framed).
//!
//! - `log_encode`: [`encode_changes`] of the batch's changes into a reused
//!   buffer (one frame per revision, checksummed): what the writer does per
//!   batch before the append.
//! - `log_decode`: [`decode_frame`] and [`decode_log_record`] over those
//!   bytes: what recovery does per record before replaying it.
//! - `snapshot_encode` / `snapshot_decode`: the same for snapshot entries
//!   ([`encode_snapshot_entry`], [`decode_snapshot_item`]), what
//!   compaction writes and a restart reads.
//!
//! Throughput is in records per second; the time is per batch.
//!
//! ```sh
//! cargo bench -p kv-core --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kv_core::codec::{
    decode_frame, decode_log_record, decode_snapshot_item, encode_changes, encode_snapshot_entry,
    Frame,
};
use kv_core::{Change, ChangeKind, Command, Limits, Store};

const BATCHES: [usize; 2] = [1, 64];
const VALUE_BYTES: usize = 100;

/// `n` committed puts, as the writer hands them to the log.
fn changes(n: usize) -> Vec<Change> {
    let (_store, writer) = Store::new(16, Limits::default()).expect("valid shard count");
    let batch = writer.prepare(
        (0..n).map(|i| Command::set(format!("key-{i:08}"), vec![b'v'; VALUE_BYTES])),
        0,
    );
    assert_eq!(batch.changes.len(), n);
    batch.changes
}

/// Calls `visit` with each frame's payload in `bytes`.
fn each_frame(mut bytes: &[u8], mut visit: impl FnMut(&[u8])) {
    while !bytes.is_empty() {
        match decode_frame(bytes) {
            Frame::Complete { payload, len } => {
                visit(payload);
                bytes = &bytes[len..];
            }
            other => panic!("bad frame: {other:?}"),
        }
    }
}

fn log(c: &mut Criterion) {
    let mut encode = c.benchmark_group("log_encode");
    for n in BATCHES {
        let changes = changes(n);
        let mut buf = Vec::new();
        encode.throughput(Throughput::Elements(n as u64));
        encode.bench_function(BenchmarkId::new("records", n), |b| {
            b.iter(|| {
                buf.clear();
                encode_changes(black_box(&changes), &mut buf);
                black_box(buf.len())
            });
        });
    }
    encode.finish();

    let mut decode = c.benchmark_group("log_decode");
    for n in BATCHES {
        let mut bytes = Vec::new();
        encode_changes(&changes(n), &mut bytes);
        decode.throughput(Throughput::Elements(n as u64));
        decode.bench_function(BenchmarkId::new("records", n), |b| {
            b.iter(|| {
                each_frame(black_box(&bytes), |payload| {
                    black_box(decode_log_record(payload).expect("a log record"));
                });
            });
        });
    }
    decode.finish();
}

fn snapshot(c: &mut Criterion) {
    let entries: Vec<_> = changes(64)
        .into_iter()
        .map(|change| match change.kind {
            ChangeKind::Put(entry) => entry,
            other => panic!("not a put: {other:?}"),
        })
        .collect();
    let mut encode = c.benchmark_group("snapshot_encode");
    for n in BATCHES {
        let mut buf = Vec::new();
        encode.throughput(Throughput::Elements(n as u64));
        encode.bench_function(BenchmarkId::new("entries", n), |b| {
            b.iter(|| {
                buf.clear();
                for entry in &entries[..n] {
                    encode_snapshot_entry(black_box(entry), &mut buf);
                }
                black_box(buf.len())
            });
        });
    }
    encode.finish();

    let mut decode = c.benchmark_group("snapshot_decode");
    for n in BATCHES {
        let mut bytes = Vec::new();
        for entry in &entries[..n] {
            encode_snapshot_entry(entry, &mut bytes);
        }
        decode.throughput(Throughput::Elements(n as u64));
        decode.bench_function(BenchmarkId::new("entries", n), |b| {
            b.iter(|| {
                each_frame(black_box(&bytes), |payload| {
                    black_box(decode_snapshot_item(payload).expect("a snapshot item"));
                });
            });
        });
    }
    decode.finish();
}

criterion_group! {
    name = benches;
    // Short by default; flags such as --measurement-time override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = log, snapshot
}
criterion_main!(benches);
