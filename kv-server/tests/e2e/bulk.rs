//! `GET /v1/export` and `POST /v1/import`: NDJSON both ways, an export at
//! one revision in key order, an import committed in chunks that stops at
//! the first bad line with every record before it stored.

use serde_json::{json, Value};

use crate::auth::write_token_file;
use crate::{send_as, start, start_with_env};

const NDJSON: &str = "application/x-ndjson";

/// `POST /v1/import` of `body` as `token`.
fn import(
    server: &kv_testkit::TestServer,
    token: Option<&str>,
    body: &str,
) -> kv_testkit::http::Answer {
    send_as(
        server,
        token,
        "POST",
        "/v1/import",
        Some((NDJSON, body.as_bytes())),
    )
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[test]
fn export_is_ordered_at_one_revision_and_import_reads_it_back() {
    let server = start(&["--in-memory"]);
    let body = "{\"key\":\"b\",\"value\":\"2\"}\n\n{\"key\":\"a\",\"value\":\"/w==\",\"encoding\":\"base64\",\"content_type\":\"application/x-test\"}\n{\"key\":\"gone\",\"value\":\"x\",\"expires_at\":1}\n{\"key\":\"c/1\",\"value\":\"3\"}";
    let answer = import(&server, None, body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({"imported": 3, "expired": 1, "rev": 1})
    );
    let export = send_as(&server, None, "GET", "/v1/export", None);
    assert_eq!(export.status, 200);
    assert_eq!(export.header("content-type"), Some(NDJSON));
    assert_eq!(export.header("x-kv-revision"), Some("1"));
    let records = lines(&export.text());
    let keys: Vec<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["a", "b", "c/1"]);
    assert_eq!(
        records[0],
        json!({"key": "a", "value": "/w==", "encoding": "base64", "content_type": "application/x-test"})
    );
    let prefixed = send_as(&server, None, "GET", "/v1/export?prefix=c/", None);
    assert_eq!(lines(&prefixed.text()).len(), 1);
    // Importing the export again changes the values to themselves.
    let again = import(&server, None, &export.text());
    assert_eq!(again.json()["imported"], 3);
}

#[test]
fn a_bad_line_stops_the_import_after_storing_the_lines_before_it() {
    let server = start(&["--in-memory", "--max-value-bytes", "8"]);
    let good: String = (0..1500)
        .map(|i| format!("{{\"key\":\"k{i:04}\",\"value\":\"v\"}}\n"))
        .collect();
    for (bad, status) in [
        ("{\"key\":\"x\"}", 400),
        ("{\"key\":\"x\",\"value\":\"123456789\"}", 413),
        ("{\"key\":\"\",\"value\":\"v\"}", 400),
        (
            "{\"key\":\"x\",\"value\":\"!\",\"encoding\":\"base64\"}",
            400,
        ),
    ] {
        let answer = import(
            &server,
            None,
            &format!("{good}{bad}\n{{\"key\":\"after\",\"value\":\"v\"}}\n"),
        );
        assert_eq!(answer.status, status, "{bad}: {}", answer.text());
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.starts_with("line 1501: "), "{message}");
        assert!(
            message.contains("the 1500 records before it were imported"),
            "{message}"
        );
    }
    let export = send_as(&server, None, "GET", "/v1/export", None);
    let records = lines(&export.text());
    assert_eq!(records.len(), 1500, "the lines before, not the one after");
    let wrong_type = send_as(
        &server,
        None,
        "POST",
        "/v1/import",
        Some(("application/json", b"{}")),
    );
    assert_eq!(wrong_type.status, 415);
}

#[test]
fn bulk_loads_need_the_rights_on_every_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = json!({"tokens": [
        {"name": "app", "token": "app-token-0123456789", "read": ["app/"], "write": ["app/"]}
    ]});
    let file = write_token_file(dir.path(), &tokens.to_string());
    let file = file.to_str().expect("UTF-8");
    let server = start_with_env(&["--in-memory", "--auth-file", file], &[]);
    let app = Some("app-token-0123456789");
    let answer = import(
        &server,
        app,
        "{\"key\":\"app/1\",\"value\":\"v\"}\n{\"key\":\"other/1\",\"value\":\"v\"}\n",
    );
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert!(answer.text().contains("line 2"), "{}", answer.text());
    assert_eq!(
        send_as(&server, app, "GET", "/v1/export?prefix=app/", None).status,
        200
    );
    assert_eq!(send_as(&server, app, "GET", "/v1/export", None).status, 403);
    assert_eq!(
        send_as(&server, None, "GET", "/v1/export", None).status,
        401
    );
}
