//! Writes in replicated mode: an `Idempotency-Key` makes a retry, to any
//! server, commit once and answer as the first did; without a quorum a
//! write is answered in time and honestly (503 `cluster_unavailable` only
//! when it surely did not commit, 504 `outcome_unknown` when it may have);
//! a server's status and readiness say where its replica is.

use std::collections::HashMap;

use crate::support::{consistent_value, request, Cluster};

#[test]
fn a_retried_idempotent_write_commits_once_whichever_server_gets_it() {
    let Some(cluster) = Cluster::start(2, &[]) else {
        return;
    };
    let (a, b) = (cluster.server(0).base_url(), cluster.server(1).base_url());
    let order = |base: &str| {
        request(
            base,
            "POST",
            "/v1/txn",
            &[
                ("idempotency-key", "order-17"),
                ("content-type", "application/json"),
            ],
            Some(br#"{"success": [{"put": {"key": "orders", "value": "17"}}]}"#),
        )
        .expect("up")
    };
    let first = order(&a);
    assert_eq!(first.status, 200, "{}", first.text());
    // The same request again, to the other server: not applied twice.
    let again = order(&b);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(
        again.json(),
        first.json(),
        "the retry answers as the first try did"
    );
    let entry = request(
        &b,
        "GET",
        "/v1/kv/orders?consistent=true&format=json",
        &[],
        None,
    )
    .expect("up");
    assert_eq!(entry.json()["version"], 1, "{}", entry.text());
    // Without a key, the same write is a new one.
    let plain = request(&a, "PUT", "/v1/kv/orders", &[], Some(b"17")).expect("up");
    assert_eq!(
        plain.json()["rev"],
        first.json()["rev"].as_u64().expect("rev") + 1
    );
    // A bad key is refused before anything is sent.
    let bad = request(
        &a,
        "PUT",
        "/v1/kv/x",
        &[("idempotency-key", "")],
        Some(b"v"),
    )
    .expect("up");
    assert_eq!(bad.status, 400, "{}", bad.text());
}

#[test]
fn without_a_quorum_writes_are_answered_in_time_and_honestly() {
    let Some(mut cluster) = Cluster::start(1, &["--cluster-timeout-ms", "3000"]) else {
        return;
    };
    let base = cluster.server(0).base_url();
    assert_eq!(
        request(&base, "PUT", "/v1/kv/before", &[], Some(b"v"))
            .expect("up")
            .status,
        201
    );
    // Two of three NATS nodes gone: no quorum.
    cluster.nats.kill(1);
    cluster.nats.kill(2);
    let mut answers: HashMap<String, u16> = HashMap::new();
    for i in 0..6 {
        let key = format!("during{i}");
        let started = std::time::Instant::now();
        let answer =
            request(&base, "PUT", &format!("/v1/kv/{key}"), &[], Some(b"v")).expect("answered");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "answered only after {:?}",
            started.elapsed()
        );
        let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
        match (answer.status, code.as_deref()) {
            (503, Some("cluster_unavailable")) | (504, Some("outcome_unknown")) => {}
            other => panic!(
                "a write without a quorum answered {other:?}: {}",
                answer.text()
            ),
        }
        answers.insert(key, answer.status);
    }
    let ready = request(&base, "GET", "/readyz", &[], None).expect("up");
    eprintln!(
        "without a quorum: answers {answers:?}; /readyz {} {}",
        ready.status,
        ready.text()
    );
    cluster.nats.restart(1);
    cluster.nats.restart(2);
    cluster.nats.wait_healthy(1);
    cluster.nats.wait_healthy(2);
    cluster.nats.wait_stream_leader("kvstore");
    cluster.converged();
    // What was refused as surely not committed is not there.
    for (key, status) in &answers {
        if *status == 503 {
            assert_eq!(
                consistent_value(&base, key),
                None,
                "{key} was answered 503 but committed"
            );
        }
    }
    assert_eq!(
        consistent_value(&base, "before").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        request(&base, "PUT", "/v1/kv/after", &[], Some(b"v"))
            .expect("up")
            .status,
        201
    );
}

#[test]
fn a_consistent_read_on_another_server_sees_every_acknowledged_write() {
    let Some(cluster) = Cluster::start(2, &[]) else {
        return;
    };
    let writer = cluster.server(0).base_url();
    let reader: kv_core::address::ServerAddr =
        cluster.server(1).base_url().parse().expect("an address");
    // `client get --consistent` is this library call.
    let client = kv_client::KvClient::new(&reader).consistent();
    for i in 0..50 {
        let value = format!("v{i}");
        let answer =
            request(&writer, "PUT", "/v1/kv/fresh", &[], Some(value.as_bytes())).expect("up");
        assert!(matches!(answer.status, 200 | 201), "{}", answer.text());
        let read = client.get("fresh").expect("read");
        assert_eq!(
            read.inserted_val.as_deref(),
            Some(value.as_str()),
            "read {i} was stale"
        );
        let entry = client.entry("fresh").expect("read").expect("present");
        assert_eq!(entry.mod_rev, answer.json()["rev"].as_u64().expect("rev"));
    }
}
