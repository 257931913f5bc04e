//! Durability of the data directory: every fsync policy keeps what it
//! acknowledged across a graceful restart (and, short of a power loss,
//! across a process crash); a second server cannot open a directory in use;
//! damage in the middle of the log stops startup until `--repair`, which
//! keeps the valid prefix and sets the rest aside; a torn tail is trimmed.

use crate::{check_present, value};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use kv_testkit::http::{get, post_json};
use kv_testkit::TestServer;
use serde_json::json;

/// Keys written per policy and phase.
const KEYS: usize = 200;
/// How long a server that must refuse to start may run before it is killed.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(10);
/// Bytes before the first record of a segment.
const FILE_HEADER_LEN: usize = 16;
/// Bytes of a frame's length and checksum.
const FRAME_HEADER_LEN: usize = 8;

fn start_in(dir: &Path, args: &[&str]) -> TestServer {
    TestServer::start_in(env!("CARGO_BIN_EXE_server"), dir, args, &[])
}

/// Sets `{prefix}-{i}` to a value naming it, for `i` in `0..count`, one
/// request at a time (so each is its own revision and log record).
fn write_keys(server: &TestServer, prefix: &str, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            let (key, val) = (format!("{prefix}-{i}"), format!("value of {prefix}-{i}"));
            let reply = post_json(&server.url("/set"), &json!({"key": key, "val": val}));
            assert_eq!(reply.status, 201, "set {key}: {}", reply.body);
            (key, val)
        })
        .collect()
}

fn stop_gracefully(server: &mut TestServer) {
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "exit code after SIGTERM");
}

/// Runs the server in `workdir` expecting it to exit by itself (refuse to
/// start) within [`REFUSAL_DEADLINE`]; returns its exit status and stderr.
fn run_to_exit(workdir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .current_dir(workdir)
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("KVSTORE_SERVER_HOST", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the server");
    let deadline = Instant::now() + REFUSAL_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server with {args:?} still runs after {REFUSAL_DEADLINE:?}; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (status, stderr)
}

/// The only log segment in `dir/data`.
fn only_segment(dir: &Path) -> PathBuf {
    let segments: Vec<PathBuf> = fs::read_dir(dir.join("data"))
        .expect("read the data directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(segments.len(), 1, "expected one segment: {segments:?}");
    segments.into_iter().next().expect("one segment")
}

/// Offsets of the frames in a segment's bytes (file header, then per
/// frame a `u32` length, a `u32` checksum and the payload).
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = FILE_HEADER_LEN;
    while at + FRAME_HEADER_LEN <= bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        at += FRAME_HEADER_LEN + len as usize;
    }
    assert_eq!(at, bytes.len(), "the segment does not end on a frame");
    offsets
}

fn policy_survives_restarts(policy: &str) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let args = ["--fsync", policy];
    let mut server = start_in(dir.path(), &args);
    let graceful = write_keys(&server, "graceful", KEYS);
    stop_gracefully(&mut server);

    let mut server = start_in(dir.path(), &args);
    assert_eq!(
        get(&server.url("/")).json()["storage"],
        json!(policy),
        "GET / names the policy"
    );
    check_present(
        &server,
        &graceful,
        &format!("fsync {policy}, after SIGTERM"),
    );
    if policy == "always" {
        return;
    }
    // The data reached the page cache before the answer: a process crash
    // (as opposed to a power loss) loses nothing under any policy.
    let crashed = write_keys(&server, "crashed", KEYS);
    server.kill();
    let server = start_in(dir.path(), &args);
    check_present(&server, &graceful, &format!("fsync {policy}, after a kill"));
    check_present(&server, &crashed, &format!("fsync {policy}, after a kill"));
}

#[test]
fn fsync_always_keeps_writes_across_a_graceful_restart() {
    policy_survives_restarts("always");
}

#[test]
fn fsync_everysec_keeps_writes_across_graceful_and_crash_restarts() {
    policy_survives_restarts("everysec");
}

#[test]
fn fsync_no_keeps_writes_across_graceful_and_crash_restarts() {
    policy_survives_restarts("no");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut first = start_in(dir.path(), &[]);
    let kept = write_keys(&first, "first", 3);
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("a UTF-8 temp path");

    let began = Instant::now();
    let (status, stderr) = run_to_exit(dir.path(), &["--data-dir", data_arg]);
    assert!(!status.success(), "a second server started on {data_arg}");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "the refusal took {:?}",
        began.elapsed()
    );
    assert!(
        stderr.contains(data_arg),
        "stderr names the directory: {stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.pid())),
        "stderr names the holder's pid: {stderr}"
    );

    // The first server is unharmed, and a crash releases the lock.
    check_present(&first, &kept, "the first server after the refusal");
    assert_eq!(
        post_json(&first.url("/set"), &json!({"key": "still", "val": "mine"})).status,
        201
    );
    first.kill();
    let second = start_in(dir.path(), &["--data-dir", data_arg]);
    check_present(&second, &kept, "after the holder was killed");
}

#[test]
fn a_damaged_record_refuses_to_start_until_repair() {
    const RECORDS: usize = 20;
    const DAMAGED: usize = 5;
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut server = start_in(dir.path(), &[]);
    let pairs = write_keys(&server, "key", RECORDS);
    stop_gracefully(&mut server);

    let segment = only_segment(dir.path());
    let mut bytes = fs::read(&segment).expect("read the segment");
    let frames = frame_offsets(&bytes);
    assert_eq!(frames.len(), RECORDS, "one record per write");
    let bad = frames[DAMAGED];
    let payload_len = frames[DAMAGED + 1] - bad - FRAME_HEADER_LEN;
    bytes[bad + FRAME_HEADER_LEN + payload_len / 2] ^= 0x5a;
    fs::write(&segment, &bytes).expect("write the damaged segment");

    let (status, stderr) = run_to_exit(dir.path(), &[]);
    assert!(!status.success(), "the server started on a damaged log");
    let name = segment
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    assert!(stderr.contains(&name), "stderr names {name}: {stderr}");
    assert!(
        stderr.contains(&format!("byte {bad}")),
        "stderr names byte {bad}, where the damaged record starts: {stderr}"
    );
    assert!(
        stderr.contains("--repair"),
        "stderr mentions --repair: {stderr}"
    );

    let mut server = start_in(dir.path(), &["--repair"]);
    check_present(&server, &pairs[..DAMAGED], "after --repair");
    for (key, _) in &pairs[DAMAGED..] {
        assert_eq!(
            value(&server, key),
            None,
            "{key} was at or after the damage, yet --repair kept it"
        );
    }
    assert_eq!(
        fs::metadata(&segment).expect("segment").len(),
        bad as u64,
        "the segment is cut where the damage starts"
    );
    let damaged_dir = dir.path().join("data").join("damaged");
    let kept: Vec<PathBuf> = fs::read_dir(&damaged_dir)
        .unwrap_or_else(|e| panic!("{} after --repair: {e}", damaged_dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "one file of cut bytes: {kept:?}");
    let cut = fs::read(&kept[0]).expect("read the cut bytes");
    assert!(!cut.is_empty(), "{} is empty", kept[0].display());
    assert!(
        cut == bytes[bad..],
        "{} does not hold exactly the bytes cut from byte {bad}",
        kept[0].display()
    );

    // The repaired log is clean: writes go on, and a plain restart works.
    let after = write_keys(&server, "after-repair", 3);
    stop_gracefully(&mut server);
    let server = start_in(dir.path(), &[]);
    check_present(
        &server,
        &pairs[..DAMAGED],
        "after a restart of the repaired log",
    );
    check_present(&server, &after, "after a restart of the repaired log");
}

#[test]
fn a_torn_tail_is_trimmed_at_startup() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut server = start_in(dir.path(), &[]);
    let pairs = write_keys(&server, "key", 20);
    stop_gracefully(&mut server);

    let segment = only_segment(dir.path());
    let clean_len = fs::metadata(&segment).expect("segment").len();
    // A frame that claims 100 bytes of payload, cut after 10 bytes: what a
    // crash in the middle of an append leaves.
    let mut torn = 100u32.to_le_bytes().to_vec();
    torn.extend_from_slice(&[0xa5; 10]);
    OpenOptions::new()
        .append(true)
        .open(&segment)
        .expect("open the segment")
        .write_all(&torn)
        .expect("append the torn frame");

    let mut server = start_in(dir.path(), &[]);
    check_present(&server, &pairs, "after a torn tail");
    assert_eq!(
        fs::metadata(&segment).expect("segment").len(),
        clean_len,
        "the torn frame was not trimmed"
    );
    let more = write_keys(&server, "more", 3);
    stop_gracefully(&mut server);
    let server = start_in(dir.path(), &[]);
    check_present(&server, &pairs, "after writing past a trimmed tail");
    check_present(&server, &more, "after writing past a trimmed tail");
}
