//! Convergence: random writes, deletes, transactions and expiring keys sent
//! to all three servers at once end with every replica at the same
//! revision, the same digest and the same keys; the expiring keys expire
//! once, with one revision each.

use std::time::Duration;

use kv_testkit::Lcg;
use serde_json::{json, Value};

use crate::support::{agent, request_with, Cluster};

/// Operations each server gets.
const OPS: usize = 250;
/// Keys the operations pick from.
const KEYS: u64 = 40;

/// One random operation against `base`.
fn random_op(agent: &ureq::Agent, base: &str, rng: &mut Lcg, writer: usize) {
    let key = format!("k{}", rng.draw() % KEYS);
    let value = format!("w{writer}-{}", rng.draw());
    let answer = match rng.draw() % 10 {
        0..=3 => request_with(
            agent,
            base,
            "PUT",
            &format!("/v1/kv/{key}"),
            &[],
            Some(value.as_bytes()),
        ),
        4 => request_with(
            agent,
            base,
            "PUT",
            &format!("/v1/kv/{key}?ttl={}ms", 300 + rng.draw() % 1500),
            &[],
            Some(value.as_bytes()),
        ),
        5 | 6 => request_with(agent, base, "DELETE", &format!("/v1/kv/{key}"), &[], None),
        7 => {
            // Set the key only if it does not exist.
            request_with(
                agent,
                base,
                "PUT",
                &format!("/v1/kv/{key}"),
                &[("if-none-match", "*")],
                Some(value.as_bytes()),
            )
        }
        8 => {
            let other = format!("t{}", rng.draw() % KEYS);
            let txn = json!({
                "compare": [{"key": key, "target": "version", "op": ">", "value": 1}],
                "success": [{"put": {"key": other, "value": value}}, {"delete": {"key": key}}],
                "failure": [{"put": {"key": key, "value": value}}],
            });
            request_with(
                agent,
                base,
                "POST",
                "/v1/txn",
                &[("content-type", "application/json")],
                Some(txn.to_string().as_bytes()),
            )
        }
        _ => request_with(agent, base, "DELETE", "/v1/kv?prefix=k1", &[], None),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(answer.status, 200 | 201 | 404 | 412),
        "{} from {base}: {}",
        answer.status,
        answer.text()
    );
}

/// Every key and entry a server holds, read consistently.
fn listing(base: &str) -> Value {
    let answer = request_with(
        &agent(),
        base,
        "GET",
        "/v1/kv?consistent=true&limit=1000",
        &[],
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let mut page = answer.json();
    // The revision a listing reports is the reader's; the entries must agree.
    page["rev"] = Value::Null;
    page
}

#[test]
fn replicas_fed_from_every_server_at_once_agree() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let bases: Vec<String> = cluster.bases().into_iter().flatten().collect();
    std::thread::scope(|scope| {
        for (writer, base) in bases.iter().enumerate() {
            scope.spawn(move || {
                let agent = agent();
                let mut rng = Lcg(writer as u64 + 1);
                for _ in 0..OPS {
                    random_op(&agent, base, &mut rng, writer);
                }
            });
        }
    });
    let (rev, digest) = cluster.converged();
    assert!(
        rev > OPS as u64,
        "only {rev} revisions for {} operations",
        3 * OPS
    );
    let listings: Vec<Value> = bases.iter().map(|base| listing(base)).collect();
    // Each replica's reads leave out the keys expired by its own clock, so
    // a key whose deadline passed while the listings were read may be in
    // one and not in another; the digests above compared those too.
    let read = kv_testkit::now_ms();
    let settled: Vec<Vec<&Value>> = listings
        .iter()
        .map(|page| {
            let entries = page["entries"].as_array().expect("entries");
            let lasting = |e: &&Value| e["expires_at"].as_u64().is_none_or(|at| at > read);
            entries.iter().filter(lasting).collect()
        })
        .collect();
    for (base, entries) in bases.iter().zip(&settled).skip(1) {
        assert_eq!(
            entries, &settled[0],
            "{base} holds other keys than {}",
            bases[0]
        );
    }
    // Every expiring key expires, once: the replicas move on together and
    // hold no key whose deadline has passed.
    std::thread::sleep(Duration::from_millis(2000));
    let (after, after_digest) = cluster.converged();
    let now = kv_testkit::now_ms();
    for base in &bases {
        let page = listing(base);
        for entry in page["entries"].as_array().expect("entries") {
            let expires = entry["expires_at"].as_u64();
            assert!(
                expires.is_none_or(|at| at > now),
                "{base} still holds {entry} after its deadline"
            );
        }
    }
    assert!(after >= rev);
    if after == rev {
        assert_eq!(after_digest, digest);
    }
    eprintln!(
        "convergence: {} operations over 3 servers; revision {rev} digest {digest}, after \
         expiries revision {after} digest {after_digest}",
        3 * OPS
    );
}
