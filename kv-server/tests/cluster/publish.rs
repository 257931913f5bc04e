//! The original NATS subjects in replicated mode: one replica at a time
//! publishes the feed, so each change goes out once while every server is
//! up, and at least once when the publishing server is killed.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kv_core::api::WatchEvent;
use kv_pubsub::nats::{subscribe, NatsConfig};

use crate::support::{request, Cluster};

/// How long events may take (the first turn is claimed after five quiet
/// seconds, a dead publisher's after five more).
const DEADLINE: Duration = Duration::from_secs(45);

fn subscriber(url: String) -> mpsc::Receiver<WatchEvent> {
    let subscription = subscribe(&NatsConfig {
        url,
        subject_prefix: String::new(),
        stream: None,
    })
    .expect("subscribed");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        while let Some(event) = subscription.next() {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

/// Events received until every revision of `revs` came; counts per revision.
fn receive(
    events: &mpsc::Receiver<WatchEvent>,
    revs: std::ops::RangeInclusive<u64>,
) -> HashMap<u64, usize> {
    let deadline = Instant::now() + DEADLINE;
    let mut seen: HashMap<u64, usize> = HashMap::new();
    while !revs.clone().all(|rev| seen.contains_key(&rev)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) => *seen.entry(event.rev).or_default() += 1,
            Err(_) => panic!("revisions missing after {DEADLINE:?}: got {seen:?}, want {revs:?}"),
        }
    }
    // Anything sent twice arrives right behind.
    while let Ok(event) = events.recv_timeout(Duration::from_millis(500)) {
        *seen.entry(event.rev).or_default() += 1;
    }
    seen
}

/// Writes `count` keys through the servers in `bases`; the last revision.
fn write(bases: &[String], from: usize, count: usize) -> u64 {
    let mut rev = 0;
    for i in from..from + count {
        let answer = request(
            &bases[i % bases.len()],
            "PUT",
            &format!("/v1/kv/p{i}"),
            &[],
            Some(b"v"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status, 201, "{}", answer.text());
        rev = answer.json()["rev"].as_u64().expect("rev");
    }
    rev
}

#[test]
fn each_change_is_published_once_and_survives_the_publishers_death() {
    let Some(mut cluster) = Cluster::start(3, &["--nats-url", "{nats}"]) else {
        return;
    };
    let events = subscriber(cluster.nats.url(0));
    let bases: Vec<String> = cluster.bases().into_iter().flatten().collect();
    let last = write(&bases, 0, 30);
    let seen = receive(&events, 1..=last);
    assert!(
        seen.values().all(|n| *n == 1),
        "published more than once: {seen:?}"
    );

    let publisher = cluster.statuses()[0]["publisher"]
        .as_str()
        .expect("a publisher")
        .to_owned();
    let index = cluster
        .statuses()
        .iter()
        .position(|s| s["node"] == publisher.as_str())
        .expect("the publisher is one of the servers");
    cluster.kill_server(index);
    let bases: Vec<String> = cluster.bases().into_iter().flatten().collect();
    let first = last + 1;
    let last = write(&bases, 30, 30);
    let seen = receive(&events, first..=last);
    let twice = seen.values().filter(|n| **n > 1).count();
    eprintln!("publish: 30 changes once each; after the publisher was killed, 30 more, {twice} of them twice");
}
