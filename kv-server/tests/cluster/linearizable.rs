//! Linearizability: clients on all three servers read (consistently),
//! write, compare-and-set and delete a few keys while the JetStream stream
//! leader is killed and started again; the history, every operation with
//! its call and return times, is checked by kv-testkit's checker
//! (Wing & Gong search with memoization, per key, as Porcupine does).
//! Answers that leave the outcome open (504 `outcome_unknown`, 503, a cut
//! connection) are recorded as such: they may or may not have happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kv_testkit::linearizability::{History, Input, Output};
use kv_testkit::Lcg;

use crate::support::{agent, request_with, Cluster};

const CLIENTS: usize = 6;
const KEYS: u64 = 3;

/// Reads `key` consistently: the value and its ETag, `Ok(None)` when
/// absent, `Err` when the outcome is not an answer.
fn read(agent: &ureq::Agent, base: &str, key: &str) -> Result<Option<(String, String)>, ()> {
    match request_with(
        agent,
        base,
        "GET",
        &format!("/v1/kv/{key}?consistent=true"),
        &[],
        None,
    ) {
        Ok(answer) if answer.status == 200 => Ok(Some((
            answer.text(),
            answer.header("etag").expect("an etag").to_owned(),
        ))),
        Ok(answer) if answer.status == 404 => Ok(None),
        _ => Err(()),
    }
}

fn client(id: usize, base: String, history: Arc<History>, stop: Arc<AtomicBool>) {
    let agent = agent();
    let mut rng = Lcg(id as u64 * 7919 + 11);
    let mut n = 0;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let key = format!("lin{}", rng.draw() % KEYS);
        let value = format!("c{id}-{n}");
        match rng.draw() % 8 {
            0..=2 => {
                let op = history.call(id, &key, Input::Read);
                match read(&agent, &base, &key) {
                    Ok(seen) => history.finish(op, Output::Read(seen.map(|(v, _)| v))),
                    Err(()) => history.unknown(op),
                }
            }
            3 | 4 => {
                let op = history.call(id, &key, Input::Write(value.clone()));
                match request_with(
                    &agent,
                    &base,
                    "PUT",
                    &format!("/v1/kv/{key}"),
                    &[],
                    Some(value.as_bytes()),
                ) {
                    Ok(answer) if matches!(answer.status, 200 | 201) => {
                        history.finish(op, Output::Ok)
                    }
                    _ => history.unknown(op),
                }
            }
            5 => {
                let op = history.call(id, &key, Input::Delete);
                match request_with(&agent, &base, "DELETE", &format!("/v1/kv/{key}"), &[], None) {
                    Ok(answer) if matches!(answer.status, 200 | 404) => {
                        history.finish(op, Output::Ok)
                    }
                    _ => history.unknown(op),
                }
            }
            _ => {
                // Compare-and-set: read, then write only if unchanged.
                let seen_op = history.call(id, &key, Input::Read);
                let Ok(seen) = read(&agent, &base, &key) else {
                    history.unknown(seen_op);
                    continue;
                };
                history.finish(seen_op, Output::Read(seen.as_ref().map(|(v, _)| v.clone())));
                let (expected, condition) = match &seen {
                    Some((v, etag)) => (Some(v.clone()), ("if-match", etag.clone())),
                    None => (None, ("if-none-match", "*".to_owned())),
                };
                let op = history.call(
                    id,
                    &key,
                    Input::Cas {
                        expected,
                        new: value.clone(),
                    },
                );
                match request_with(
                    &agent,
                    &base,
                    "PUT",
                    &format!("/v1/kv/{key}"),
                    &[(condition.0, condition.1.as_str())],
                    Some(value.as_bytes()),
                ) {
                    Ok(answer) if matches!(answer.status, 200 | 201) => {
                        history.finish(op, Output::Cas(true))
                    }
                    Ok(answer) if answer.status == 412 => history.finish(op, Output::Cas(false)),
                    _ => history.unknown(op),
                }
            }
        }
    }
}

#[test]
fn cas_and_consistent_reads_across_servers_are_linearizable() {
    let Some(mut cluster) = Cluster::start(3, &["--cluster-timeout-ms", "4000"]) else {
        return;
    };
    let bases: Vec<String> = cluster.bases().into_iter().flatten().collect();
    let history = Arc::new(History::new());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (base, history, stop) = (
                bases[id % bases.len()].clone(),
                Arc::clone(&history),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || client(id, base, history, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let leader = cluster
        .nats
        .stream_leader("kvstore")
        .expect("a stream leader");
    cluster.nats.kill(leader);
    std::thread::sleep(Duration::from_secs(4));
    cluster.nats.restart(leader);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Release);
    for client in clients {
        client.join().expect("a client panicked");
    }
    let operations = history.operations();
    let unknown = operations.iter().filter(|op| op.output.is_none()).count();
    let result = history.check();
    eprintln!(
        "linearizability: {} operations on {KEYS} keys from {CLIENTS} clients on 3 servers, \
         {unknown} with an unknown outcome, stream leader killed: {result}",
        operations.len()
    );
    assert!(result.is_ok(), "{result}");
    assert!(operations.len() > 200, "too few operations to mean much");
}
