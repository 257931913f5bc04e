//! The HTTP workers run under `SCHED_BATCH` (Linux), the writer does not,
//! and the nice value the server was started with is kept.

use std::time::{Duration, Instant};

use kv_testkit::TestServer;

use crate::start;

const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

/// Name, scheduling policy and nice value of each of `pid`'s threads.
fn threads(pid: u32) -> Vec<(String, u32, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            // Fields 3 onwards follow the name: nice is 19, policy 41.
            let fields: Vec<&str> = tail.split_whitespace().collect();
            Some((
                name,
                fields[41 - 3].parse().ok()?,
                fields[19 - 3].parse().ok()?,
            ))
        })
        .collect()
}

/// Waits until `server` runs its two workers (threads that start after
/// it listens) and its writer has named itself (a new thread carries its
/// parent's name until it first runs, which takes a while on a loaded
/// machine), then returns its threads.
fn once_both_workers_run(server: &TestServer, policy: u32) -> Vec<(String, u32, i32)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let threads = threads(server.pid());
        let workers = threads
            .iter()
            .filter(|(name, p, _)| name.starts_with("actix-rt") && *p == policy)
            .count();
        let writer_named = threads.iter().any(|(name, _, _)| name == "kv-writer");
        if workers == 2 && writer_named {
            return threads;
        }
        assert!(
            Instant::now() < deadline,
            "expected 2 workers with policy {policy}: {threads:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn writer(threads: &[(String, u32, i32)]) -> (u32, i32) {
    let (_, policy, nice) = threads
        .iter()
        .find(|(name, _, _)| name == "kv-writer")
        .unwrap_or_else(|| panic!("no writer thread: {threads:?}"));
    (*policy, *nice)
}

#[test]
fn workers_run_as_batch_threads_and_the_writer_does_not() {
    let server = start(&["--in-memory", "--workers", "2"]);
    let threads = once_both_workers_run(&server, SCHED_BATCH);
    assert_eq!(writer(&threads), (SCHED_OTHER, 0), "{threads:?}");
}

#[test]
fn normal_scheduling_leaves_every_thread_alone() {
    let server = start(&[
        "--in-memory",
        "--workers",
        "2",
        "--worker-scheduling",
        "normal",
    ]);
    let threads = once_both_workers_run(&server, SCHED_OTHER);
    assert!(
        threads.iter().all(|(_, policy, _)| *policy == SCHED_OTHER),
        "{threads:?}"
    );
}

#[test]
fn the_nice_value_the_server_was_started_with_is_kept() {
    let server = TestServer::start(
        "/usr/bin/nice",
        &[
            "-n",
            "5",
            env!("CARGO_BIN_EXE_server"),
            "--in-memory",
            "--workers",
            "2",
        ],
    );
    let threads = once_both_workers_run(&server, SCHED_BATCH);
    assert!(threads.iter().all(|(_, _, nice)| *nice == 5), "{threads:?}");
    assert_eq!(writer(&threads), (SCHED_OTHER, 5), "{threads:?}");
}
