//! What a node's HTTP monitoring endpoint says: health, the JetStream meta
//! leader, and who leads a stream.
//!
//! The JSON shapes are those of nats-server 2.15: `GET /jsz` has
//! `meta_cluster.leader` (a server name, empty or absent until one is
//! elected), and `GET /jsz?accounts=true&streams=true` lists each stream
//! under `account_details[].stream_detail[]` with its `name` and
//! `cluster.leader`.

use std::time::Duration;

use serde_json::Value;

/// How long one monitoring call may take (they run in polling loops).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// An HTTP agent for monitoring calls: any status as a value, short timeout.
pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .into()
}

/// `GET http://127.0.0.1:PORT/PATH`: the status and body, or `None` when
/// the node does not answer.
fn get(agent: &ureq::Agent, port: u16, path: &str) -> Option<(u16, String)> {
    let mut response = agent
        .get(format!("http://127.0.0.1:{port}{path}"))
        .call()
        .ok()?;
    let body = response.body_mut().read_to_string().ok()?;
    Some((response.status().as_u16(), body))
}

/// `GET PATH` parsed as JSON, when the node answers 200.
fn get_json(agent: &ureq::Agent, port: u16, path: &str) -> Option<Value> {
    match get(agent, port, path)? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Whether the node runs with JetStream enabled
/// (`/healthz?js-enabled-only=true` answers 200). It may not have found the
/// meta leader yet.
pub(super) fn jetstream_enabled(agent: &ureq::Agent, port: u16) -> bool {
    get(agent, port, "/healthz?js-enabled-only=true").is_some_and(|(status, _)| status == 200)
}

/// The node's full health (`/healthz`): the status and body, such as
/// `(200, {"status":"ok"})` or `(503, {"status":"unavailable","error":
/// "JetStream is not current with the meta leader"})`.
pub(super) fn health(agent: &ureq::Agent, port: u16) -> Option<(u16, String)> {
    get(agent, port, "/healthz")
}

/// The JetStream meta leader's server name, as the node knows it.
pub(super) fn meta_leader(agent: &ureq::Agent, port: u16) -> Option<String> {
    parse_meta_leader(&get_json(agent, port, "/jsz")?)
}

/// The server name of `stream`'s leader, as the node knows it.
pub(super) fn stream_leader(agent: &ureq::Agent, port: u16, stream: &str) -> Option<String> {
    let jsz = get_json(agent, port, "/jsz?accounts=true&streams=true")?;
    parse_stream_leader(&jsz, stream)
}

/// `meta_cluster.leader` of a `/jsz` answer, when not empty.
fn parse_meta_leader(jsz: &Value) -> Option<String> {
    non_empty(&jsz["meta_cluster"]["leader"])
}

/// `cluster.leader` of the first stream named `stream`, in any account, of a
/// `/jsz?accounts=true&streams=true` answer, when not empty.
fn parse_stream_leader(jsz: &Value, stream: &str) -> Option<String> {
    jsz["account_details"]
        .as_array()?
        .iter()
        .filter_map(|account| account["stream_detail"].as_array())
        .flatten()
        .find(|detail| detail["name"] == stream)
        .and_then(|detail| non_empty(&detail["cluster"]["leader"]))
}

/// A JSON string that is not empty.
fn non_empty(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/jsz?accounts=true&streams=true` answer of nats-server 2.15.1
    /// (node n2 of three, one R3 stream), trimmed.
    const JSZ: &str = r#"{
      "streams": 1,
      "meta_cluster": {
        "name": "kvtest", "leader": "n3", "peer": "BXScrY9i",
        "replicas": [{"name": "n1", "current": false, "active": 0, "peer": "fjFyEjc1"}],
        "cluster_size": 3, "quorum_needed": 2
      },
      "account_details": [{
        "name": "$G", "id": "$G",
        "stream_detail": [{
          "name": "KV",
          "cluster": {
            "name": "kvtest", "raft_group": "S-R3F-oHHGrIyG", "leader": "n1",
            "replicas": [{"name": "n3", "current": false, "active": 0, "peer": "BXScrY9i"}]
          },
          "state": {"messages": 0, "bytes": 0}
        }]
      }],
      "total": 1
    }"#;

    #[test]
    fn finds_the_meta_leader_and_a_streams_leader() {
        let jsz: Value = serde_json::from_str(JSZ).expect("JSON");
        assert_eq!(parse_meta_leader(&jsz).as_deref(), Some("n3"));
        assert_eq!(parse_stream_leader(&jsz, "KV").as_deref(), Some("n1"));
        assert_eq!(parse_stream_leader(&jsz, "OTHER"), None);
    }

    #[test]
    fn an_election_in_progress_has_no_leader() {
        // While a node recovers, its stream has no `leader` field yet; before
        // the first election, `meta_cluster.leader` is absent or empty.
        let jsz = serde_json::json!({
            "meta_cluster": {"name": "kvtest", "leader": ""},
            "account_details": [{"stream_detail": [
                {"name": "KV", "cluster": {"name": "kvtest", "raft_group": "S-R3F-x"}}
            ]}]
        });
        assert_eq!(parse_meta_leader(&jsz), None);
        assert_eq!(parse_stream_leader(&jsz, "KV"), None);
        assert_eq!(parse_meta_leader(&serde_json::json!({})), None);
    }
}
