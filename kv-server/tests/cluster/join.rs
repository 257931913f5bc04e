//! Joining and catching up: a replica with an empty data directory joins a
//! cluster whose log was trimmed (from the shared snapshot), and a replica
//! restarted after the log moved on catches up, from its own snapshot when
//! the log still holds what follows it, from the shared one when not.

use std::time::Duration;

use kv_pubsub::nats::{JetStreamLog, JetStreamSettings};
use kv_pubsub::replicated::ReplicatedLog;

use crate::support::{request, Cluster};

/// Messages between snapshots: small, so that the log is trimmed soon.
const EVERY: &str = "40";

fn log(cluster: &Cluster) -> JetStreamLog {
    JetStreamLog::connect(JetStreamSettings {
        urls: cluster.nats.urls(),
        stream: "kvstore".into(),
        replicas: 3,
        ack_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
    })
    .expect("the log")
}

/// Writes keys `prefix0..prefixN` one at a time (a log message each).
fn write(base: &str, prefix: &str, count: usize) {
    for i in 0..count {
        let answer = request(base, "PUT", &format!("/v1/kv/{prefix}{i}"), &[], Some(b"v"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(answer.status, 200 | 201), "{}", answer.text());
    }
}

/// Waits until the log starts after `seq`.
fn trimmed_past(log: &JetStreamLog, seq: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let first = log.bounds().expect("bounds").first_seq;
        if first > seq + 1 {
            return first;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not trimmed past {seq} (it starts at {first})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_empty_replica_joins_a_trimmed_log_and_a_restarted_one_catches_up() {
    let Some(mut cluster) = Cluster::start(2, &["--cluster-snapshot-every", EVERY]) else {
        return;
    };
    let log = log(&cluster);
    let base = cluster.server(0).base_url();
    write(&base, "a", 200);
    let first = trimmed_past(&log, 1);
    let joined = cluster.add_server();
    let (rev, digest) = cluster.converged();
    eprintln!("join: the log starts at {first}; replica {joined} joined at revision {rev}, digest {digest}");

    // Restarted while the log still holds what follows its snapshot.
    cluster.kill_server(1);
    write(&base, "b", 10);
    cluster.restart_server(1);
    cluster.converged();

    // Restarted after the log moved past its snapshot.
    cluster.kill_server(1);
    let at_kill = log.bounds().expect("bounds").last_seq;
    write(&base, "c", 200);
    let first = trimmed_past(&log, at_kill);
    cluster.restart_server(1);
    let (rev, digest) = cluster.converged();
    eprintln!("catch-up: the log starts at {first}, past the killed replica's {at_kill}; converged at {rev}, digest {digest}");
    let status = cluster.statuses();
    assert!(status.iter().all(|s| s["keys"] == 410), "{status:#?}");
}
