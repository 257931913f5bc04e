//! Compaction under load: with tiny thresholds, writers overwrite and remove
//! a small key space so the log grows far past the live data. The data
//! directory must then show a snapshot and a log much smaller than what was
//! written, and a server restarted after a kill, then after a graceful stop,
//! must hold exactly the last acknowledged state of every key.

use kv_testkit::Lcg;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kv_testkit::TestServer;
use serde_json::{json, Value};

const THREADS: usize = 4;
const OPS_PER_THREAD: usize = 600;
const KEYS: u64 = 40;
const SEGMENT_BYTES: u64 = 4096;
const COMPACT_MIN_BYTES: u64 = 16384;
/// The log may be at most this big once compaction has caught up: the
/// compaction threshold plus room for the segments written meanwhile.
const COMPACTED_LOG_LIMIT: u64 = 3 * COMPACT_MIN_BYTES;
/// How long compaction may take to catch up after the load.
const SETTLE_DEADLINE: Duration = Duration::from_secs(20);

/// An acknowledged change: its revision and the value it left (`None` for a
/// removal).
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    rev: u64,
    val: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn start_in(dir: &Path) -> TestServer {
    TestServer::start_in(
        env!("CARGO_BIN_EXE_server"),
        dir,
        &[
            "--segment-bytes",
            &SEGMENT_BYTES.to_string(),
            "--compact-min-bytes",
            &COMPACT_MIN_BYTES.to_string(),
            "--compact-ratio",
            "1",
        ],
        &[],
    )
}

/// Sets (3 in 4) and removes (1 in 4) random keys of the key space, with
/// values of 100 to 299 bytes. Returns the acknowledged changes and the key
/// and value bytes written.
fn writer(base: String, thread: usize) -> (Vec<Acked>, u64) {
    let agent = agent();
    let mut rng = Lcg(thread as u64 + 100);
    let mut acked = Vec::new();
    let mut written = 0u64;
    for i in 0..OPS_PER_THREAD {
        let key = format!("key-{}", rng.draw() % KEYS);
        if rng.draw().is_multiple_of(4) {
            let body: Value = agent
                .delete(&format!("{base}/rm"))
                .force_send_body()
                .send_json(json!({"key": key}))
                .unwrap_or_else(|e| panic!("rm {key}: {e}"))
                .body_mut()
                .read_json()
                .unwrap_or_else(|e| panic!("rm {key} answer: {e}"));
            if body["removed"] == json!(true) {
                let rev = body["rev"].as_u64().expect("rm answers a rev");
                written += key.len() as u64;
                acked.push(Acked {
                    key,
                    rev,
                    val: None,
                });
            }
        } else {
            let len = 100 + (rng.draw() % 200) as usize;
            let mut val = format!("t{thread}-{i}-");
            val.extend(std::iter::repeat_n('x', len - val.len()));
            let body: Value = agent
                .post(&format!("{base}/set"))
                .send_json(json!({"key": key, "val": val}))
                .unwrap_or_else(|e| panic!("set {key}: {e}"))
                .body_mut()
                .read_json()
                .unwrap_or_else(|e| panic!("set {key} answer: {e}"));
            let rev = body["rev"].as_u64().expect("set answers a rev");
            written += (key.len() + val.len()) as u64;
            acked.push(Acked {
                key,
                rev,
                val: Some(val),
            });
        }
    }
    (acked, written)
}

/// The data directory's log segments and snapshots.
#[derive(Debug, Default)]
struct Files {
    segments: Vec<(PathBuf, u64)>,
    snapshots: Vec<String>,
    tmp: usize,
}

impl Files {
    fn list(data: &Path) -> Files {
        let mut files = Files::default();
        let Ok(entries) = fs::read_dir(data) else {
            return files;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                files.tmp += 1;
            } else if name.ends_with(".log") {
                // A segment may be deleted between the listing and this.
                if let Ok(meta) = entry.metadata() {
                    files.segments.push((entry.path(), meta.len()));
                }
            } else if name.starts_with("snapshot-") && name.ends_with(".snap") {
                files.snapshots.push(name);
            }
        }
        files
    }

    fn log_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, len)| len).sum()
    }

    /// Compaction has happened and caught up: a snapshot, no compaction
    /// half-written, and a log well below what was written.
    fn compacted(&self) -> bool {
        !self.snapshots.is_empty() && self.tmp == 0 && self.log_bytes() <= COMPACTED_LOG_LIMIT
    }
}

/// The last acknowledged state of each key: the change with the highest
/// revision wins.
fn last_state(acked: &[Acked]) -> HashMap<&str, &Acked> {
    let mut last: HashMap<&str, &Acked> = HashMap::new();
    for a in acked {
        let slot = last.entry(&a.key).or_insert(a);
        if a.rev > slot.rev {
            *slot = a;
        }
    }
    last
}

/// Every key of the key space holds exactly its last acknowledged state.
fn check_state(server: &TestServer, last: &HashMap<&str, &Acked>, when: &str) {
    let agent = agent();
    for k in 0..KEYS {
        let key = format!("key-{k}");
        let body: Value = agent
            .get(&server.url("/get"))
            .query("key", &key)
            .call()
            .unwrap_or_else(|e| panic!("get {key}: {e}"))
            .body_mut()
            .read_json()
            .unwrap_or_else(|e| panic!("get {key} answer: {e}"));
        let expected = last.get(key.as_str());
        let val = expected.and_then(|a| a.val.clone());
        assert_eq!(
            body["inserted_val"],
            json!(val),
            "{when}: {key} does not hold its last acknowledged value (change {expected:?})"
        );
        if let Some(a) = expected.filter(|a| a.val.is_some()) {
            assert_eq!(
                body["mod_rev"],
                json!(a.rev),
                "{when}: {key} has the wrong mod_rev"
            );
        }
    }
}

#[test]
fn compaction_under_load_keeps_the_last_state_of_every_key() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("create a temp dir");
    let data = dir.path().join("data");
    let mut server = start_in(dir.path());

    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let base = server.base_url();
            std::thread::spawn(move || writer(base, t))
        })
        .collect();
    // Watch the directory while the load runs, to count the snapshots that
    // come and go (a lower bound on the compactions).
    let mut snapshots_seen = BTreeSet::new();
    let mut most_segments = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        let files = Files::list(&data);
        most_segments = most_segments.max(files.segments.len());
        snapshots_seen.extend(files.snapshots);
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut acked = Vec::new();
    let mut written = 0;
    for w in writers {
        let (a, bytes) = w.join().expect("a writer thread panicked");
        acked.extend(a);
        written += bytes;
    }
    assert!(
        written > 4 * COMPACTED_LOG_LIMIT,
        "the load wrote only {written} bytes: too little to tell compaction from none"
    );

    // Compaction runs in the background: wait until it has caught up.
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let files = loop {
        let files = Files::list(&data);
        snapshots_seen.extend(files.snapshots.iter().cloned());
        if files.compacted() {
            break files;
        }
        assert!(
            Instant::now() < deadline,
            "no compaction within {SETTLE_DEADLINE:?} after writing {written} bytes of keys and \
             values: {} log bytes in {} segments, snapshots {:?}, {} .tmp files",
            files.log_bytes(),
            files.segments.len(),
            files.snapshots,
            files.tmp
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        files.segments.len() <= 16,
        "{} segments left after compaction: {:?}",
        files.segments.len(),
        files.segments
    );
    assert_eq!(
        files.snapshots.len(),
        1,
        "older snapshots are deleted once a newer one is in place"
    );

    let last = last_state(&acked);
    check_state(&server, &last, "before any restart");

    server.kill();
    let mut server = start_in(dir.path());
    check_state(&server, &last, "after a kill");

    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "exit code after SIGTERM");
    let server = start_in(dir.path());
    check_state(&server, &last, "after a graceful stop");

    eprintln!(
        "compaction test: {} acknowledged changes, {written} key and value bytes written; \
         {} distinct snapshots seen (at least that many compactions), at most {most_segments} \
         segments at once; {} log bytes in {} segments at the end ({:.1?})",
        acked.len(),
        snapshots_seen.len(),
        files.log_bytes(),
        files.segments.len(),
        began.elapsed()
    );
}
