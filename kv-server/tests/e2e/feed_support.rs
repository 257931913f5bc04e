//! Shared by the change-feed tests: the change record, the checks, a
//! deterministic generator.

pub use kv_testkit::Lcg;
use std::collections::BTreeSet;

use kv_client::watch::WatchStream;
use kv_client::KvClient;
use kv_core::api::WatchEvent;
use kv_testkit::TestServer;

/// Opens `GET /v1/watch?QUERY` with `headers` (no overall time limit: the
/// stream stays open). A 200 gives the event stream; any other status
/// gives the status and the body.
pub fn open_watch(
    server: &TestServer,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<WatchStream, (u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(server.url(&format!("/v1/watch?{query}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .call()
        .unwrap_or_else(|e| panic!("GET /v1/watch?{query}: {e}"));
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.body_mut().read_to_string().unwrap_or_default();
        return Err((status, body));
    }
    Ok(WatchStream::new(Box::new(
        response.into_body().into_reader(),
    )))
}

/// A committed change, as a writer saw it acknowledged or a watcher got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rev: u64,
    pub op: String,
    pub key: String,
    pub val: Option<String>,
}

impl Change {
    /// A set of `key` to `val` at `rev`.
    pub fn set(rev: u64, key: &str, val: &str) -> Change {
        Change {
            rev,
            op: "set".into(),
            key: key.into(),
            val: Some(val.into()),
        }
    }

    /// A removal of `key` at `rev`.
    pub fn rm(rev: u64, key: &str) -> Change {
        Change {
            rev,
            op: "rm".into(),
            key: key.into(),
            val: None,
        }
    }
}

impl From<WatchEvent> for Change {
    fn from(e: WatchEvent) -> Self {
        Change {
            rev: e.rev,
            op: e.op,
            key: e.key,
            val: e.val,
        }
    }
}

/// The client library, pointed at `server`.
pub fn client_of(server: &TestServer) -> KvClient {
    KvClient::new(&server.addr().to_string().parse().expect("a server address"))
}

/// Checks that `got` is exactly `expected`: strictly increasing revisions,
/// nothing missing, nothing extra, nothing twice, the same values.
pub fn assert_exactly(name: &str, got: &[Change], expected: &[Change]) {
    for pair in got.windows(2) {
        assert!(
            pair[0].rev < pair[1].rev,
            "{name}: revision {} came after {} (out of order or twice)",
            pair[1].rev,
            pair[0].rev
        );
    }
    if got == expected {
        return;
    }
    let got_revs: BTreeSet<u64> = got.iter().map(|c| c.rev).collect();
    let expected_revs: BTreeSet<u64> = expected.iter().map(|c| c.rev).collect();
    let missing: Vec<u64> = expected_revs
        .difference(&got_revs)
        .take(10)
        .copied()
        .collect();
    let extra: Vec<u64> = got_revs
        .difference(&expected_revs)
        .take(10)
        .copied()
        .collect();
    let first = got.iter().zip(expected).position(|(g, e)| g != e);
    panic!(
        "{name}: got {} events, expected {}; missing revisions (first 10): {missing:?}; \
         unexpected revisions (first 10): {extra:?}; first difference at index {first:?}: \
         got {:?}, expected {:?}",
        got.len(),
        expected.len(),
        first.and_then(|i| got.get(i)),
        first.and_then(|i| expected.get(i)),
    );
}

/// Sorts acknowledged changes by revision and checks they are exactly
/// revisions `from..=last` (each handed out once, none unacknowledged).
pub fn sorted_contiguous(mut acked: Vec<Change>, from: u64) -> Vec<Change> {
    acked.sort_by_key(|c| c.rev);
    let revs: Vec<u64> = acked.iter().map(|c| c.rev).collect();
    let last = from + revs.len() as u64 - 1;
    assert_eq!(
        revs,
        (from..=last).collect::<Vec<u64>>(),
        "the acknowledged revisions are not exactly {from}..={last}"
    );
    acked
}
