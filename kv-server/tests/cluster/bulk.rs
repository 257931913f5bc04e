//! Bulk loads in replicated mode: `POST /v1/import` through one server
//! commits through the log like any write, so every replica holds the
//! same records, and `GET /v1/export` from another server gives them back
//! byte for byte.

use serde_json::{json, Value};

use crate::support::{request, Cluster};

/// Records imported: several chunks of the server's import batching.
const RECORDS: usize = 5_000;

#[test]
fn an_import_through_one_server_is_exported_alike_by_every_replica() {
    let Some(cluster) = Cluster::start(3, &[]) else {
        return;
    };
    let records: Vec<Value> = (0..RECORDS)
        .map(|n| match n % 3 {
            0 => json!({"key": format!("bulk/{n:05}"), "value": format!("text {n}")}),
            // Bytes that are not UTF-8, as base64.
            1 => json!({"key": format!("bulk/{n:05}"), "value": "/wA=", "encoding": "base64"}),
            _ => json!({"key": format!("bulk/{n:05}"), "value": "{}",
                        "content_type": "application/json"}),
        })
        .collect();
    let ndjson: String = records.iter().map(|r| format!("{r}\n")).collect();
    let import = request(
        &cluster.server(0).base_url(),
        "POST",
        "/v1/import",
        &[("content-type", "application/x-ndjson")],
        Some(ndjson.as_bytes()),
    )
    .expect("up");
    assert_eq!(import.status, 200, "{}", import.text());
    assert_eq!(import.json()["imported"], RECORDS as u64);

    let (rev, _) = cluster.converged();
    assert_eq!(
        import.json()["rev"],
        rev,
        "the import's revision is the last"
    );
    for index in 0..3 {
        let export = request(
            &cluster.server(index).base_url(),
            "GET",
            "/v1/export?prefix=bulk/",
            &[],
            None,
        )
        .expect("up");
        assert_eq!(export.status, 200, "{}", export.text());
        let exported: Vec<Value> = export
            .text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON record"))
            .collect();
        assert_eq!(exported.len(), RECORDS, "server {index}");
        for (sent, got) in records.iter().zip(&exported) {
            for field in ["key", "value", "encoding", "content_type"] {
                assert_eq!(sent[field], got[field], "server {index}: {field} of {sent}");
            }
        }
    }
}
