//! Watch resume across servers: every replica has the same feed, so a
//! watcher that read events from server A resumes on server B with
//! `Last-Event-ID` and gets every later change once, in order.

use std::time::Duration;

use kv_client::watch::{WatchItem, WatchStream};
use kv_core::api::WatchEvent;

use crate::support::{request, Cluster};

/// Opens `GET /v1/watch` on `base` with `headers`.
fn watch(base: &str, query: &str, headers: &[(&str, &str)]) -> WatchStream {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_body(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut call = agent.get(format!("{base}/v1/watch?{query}"));
    for (name, value) in headers {
        call = call.header(*name, *value);
    }
    let response = call
        .call()
        .unwrap_or_else(|e| panic!("watch on {base}: {e}"));
    WatchStream::new(Box::new(response.into_body().into_reader()))
}

/// Reads events until one of revision `last` has come.
fn events_through(stream: &mut WatchStream, last: u64) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    for item in stream.by_ref() {
        if let WatchItem::Event(event) = item.expect("a well-formed stream") {
            let rev = event.rev;
            events.push(event);
            if rev >= last {
                break;
            }
        }
    }
    events
}

/// Writes `keys` (spread over every server); the revision of the last.
fn write(bases: &[String], keys: std::ops::Range<usize>) -> u64 {
    let mut rev = 0;
    for i in keys {
        let base = &bases[i % bases.len()];
        let answer = request(
            base,
            "PUT",
            &format!("/v1/kv/w{i}"),
            &[],
            Some(format!("v{i}").as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer.status, 201, "{}", answer.text());
        rev = answer.json()["rev"].as_u64().expect("rev");
    }
    rev
}

#[test]
fn a_watcher_resumes_on_another_server_without_gaps_or_repeats() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let bases: Vec<String> = cluster.bases().into_iter().flatten().collect();
    let mut first = watch(&bases[0], "from_rev=1", &[]);
    let half = write(&bases, 0..30);
    let seen = events_through(&mut first, half);
    // Stop part-way through: resume from the last id the stream gave.
    let resume_from = seen[19].rev;
    drop(first);
    let last = write(&bases, 30..60);
    let id = resume_from.to_string();
    let mut second = watch(&bases[2], "", &[("last-event-id", id.as_str())]);
    let rest = events_through(&mut second, last);
    let revs: Vec<u64> = rest.iter().map(|e| e.rev).collect();
    assert_eq!(
        revs,
        ((resume_from + 1)..=last).collect::<Vec<_>>(),
        "server B resumed with gaps or repeats"
    );
    for event in &rest {
        let i: usize = event
            .key
            .trim_start_matches('w')
            .parse()
            .expect("a written key");
        assert_eq!(event.val.as_deref(), Some(format!("v{i}").as_str()));
    }
    // Each revision is the same change on every server.
    let mut on_a = watch(&bases[0], &format!("from_rev={}", resume_from + 1), &[]);
    assert_eq!(events_through(&mut on_a, last), rest);
}
