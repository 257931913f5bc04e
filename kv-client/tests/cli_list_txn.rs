//! The real `client` binary's `list`, `del --prefix` and `txn` against the
//! real `server` binary.

mod common;

use common::{client, client_with_stdin, stderr, stdout};
use std::path::Path;
use std::process::Output;

use kv_testkit::http::{get, post_json};
use kv_testkit::{cargo_bin, TestServer};
use serde_json::{json, Value};

fn server() -> TestServer {
    TestServer::start(cargo_bin("server"), &["--fsync", "no"])
}

/// Asserts exit 0 with nothing on stderr; returns stdout.
fn ok(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    assert_eq!(stderr(output), "");
    stdout(output)
}

/// Asserts a failure with exit `code`, nothing on stdout and exactly one
/// `error: ` line on stderr; returns that line.
fn fails(output: &Output, code: i32) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert_eq!(stdout(output), "", "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("error: ") && err.ends_with('\n'), "{err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Writes `pairs` through `POST /v1/txn`, at most 100 puts at a time.
fn load(server: &TestServer, pairs: &[(String, String)]) {
    for chunk in pairs.chunks(100) {
        let success: Vec<Value> = chunk
            .iter()
            .map(|(k, v)| json!({"put": {"key": k, "value": v}}))
            .collect();
        let reply = post_json(&server.url("/v1/txn"), &json!({ "success": success }));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// Every key of the store, in order, through `GET /v1/kv`.
fn keys(server: &TestServer) -> Vec<String> {
    let reply = get(&server.url("/v1/kv?limit=1000"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["next"], Value::Null, "more than a page in these tests");
    body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["key"].as_str().expect("a key").to_owned())
        .collect()
}

fn store_rev(server: &TestServer) -> u64 {
    get(&server.url("/v1/kv?prefix=~none&limit=1")).json()["rev"]
        .as_u64()
        .expect("rev")
}

fn lines(items: &[String]) -> String {
    items.iter().map(|line| format!("{line}\n")).collect()
}

#[test]
fn list_prints_sorted_lines_across_pages() {
    let server = server();
    let host = server.base_url();
    // Written out of order; 250 under l/, more than two default pages.
    let mut pairs: Vec<(String, String)> = (0..250)
        .rev()
        .map(|i| (format!("l/{i:03}"), format!("value {i}")))
        .collect();
    pairs.push(("m/1".into(), "x".into()));
    pairs.push(("k".into(), "y".into()));
    pairs.push(("l".into(), "not under l/".into()));
    load(&server, &pairs);
    let mut sorted = pairs.clone();
    sorted.sort();
    let under_l: Vec<(String, String)> = sorted
        .iter()
        .filter(|(k, _)| k.starts_with("l/"))
        .cloned()
        .collect();
    let tabbed = |pairs: &[(String, String)]| {
        lines(
            &pairs
                .iter()
                .map(|(k, v)| format!("{k}\t{v}"))
                .collect::<Vec<_>>(),
        )
    };

    assert_eq!(ok(&client(&host, &["list"])), tabbed(&sorted));
    assert_eq!(
        ok(&client(&host, &["list", "--prefix", "l/"])),
        tabbed(&under_l)
    );
    let under_l_keys: Vec<String> = under_l.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        ok(&client(&host, &["list", "--prefix", "l/", "--keys-only"])),
        lines(&under_l_keys)
    );
    assert_eq!(
        ok(&client(&host, &["list", "--prefix", "l/", "--limit", "7"])),
        tabbed(&under_l[..7])
    );
    assert_eq!(
        ok(&client(&host, &["list", "--limit", "120", "--keys-only"])),
        lines(
            &sorted
                .iter()
                .take(120)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>()
        )
    );
    assert_eq!(
        ok(&client(
            &host,
            &["list", "--prefix", "l/", "--limit", "1000"]
        )),
        tabbed(&under_l),
        "a limit above the keys lists them all"
    );
    assert_eq!(ok(&client(&host, &["list", "--prefix", "zzz"])), "");

    // --json: one entry per line, as the server answers it.
    let json_lines = ok(&client(
        &host,
        &["--json", "list", "--prefix", "l/", "--limit", "3"],
    ));
    let entries: Vec<Value> = json_lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(entries.len(), 3, "{json_lines}");
    for (entry, (key, value)) in entries.iter().zip(&under_l) {
        assert_eq!(entry["key"], json!(key));
        assert_eq!(entry["value"], json!(value));
        assert_eq!(entry["encoding"], json!("utf8"));
        assert!(entry["mod_rev"].as_u64().is_some_and(|r| r > 0), "{entry}");
    }
    let keys_only = ok(&client(
        &host,
        &["list", "--json", "--keys-only", "--prefix", "m/"],
    ));
    let entry: Value = serde_json::from_str(keys_only.trim_end()).expect("one JSON line");
    assert_eq!(entry["key"], json!("m/1"));
    assert!(entry.get("value").is_none(), "{entry}");
}

#[test]
fn list_limit_zero_lists_no_keys() {
    let server = server();
    let host = server.base_url();
    load(
        &server,
        &[("a".into(), "1".into()), ("b".into(), "2".into())],
    );
    let out = client(&host, &["list", "--limit", "0"]);
    // Either nothing listed, or refused as a usage error: not a key.
    match out.status.code() {
        Some(0) => assert_eq!(stdout(&out), "", "--limit 0 listed keys"),
        Some(2) => assert_eq!(stdout(&out), ""),
        other => panic!("exit {other:?}: {}", stderr(&out)),
    }
}

#[test]
fn del_prefix_removes_the_keys_under_it_and_empty_needs_all() {
    let server = server();
    let host = server.base_url();
    let pairs: Vec<(String, String)> = ["a/1", "a/2", "a/3/x", "a", "a2", "b/1"]
        .iter()
        .map(|k| ((*k).to_owned(), "v".to_owned()))
        .collect();
    load(&server, &pairs);
    let rev = store_rev(&server);

    let out = ok(&client(&host, &["del", "--prefix", "a/"]));
    assert_eq!(out, format!("deleted 3 keys (revision {})\n", rev + 1));
    assert_eq!(keys(&server), vec!["a", "a2", "b/1"]);

    let none = client(&host, &["--json", "del", "--prefix", "a/"]);
    let body: Value = serde_json::from_str(&ok(&none)).expect("JSON");
    assert_eq!(body, json!({"deleted": 0, "rev": rev + 1}));

    // An empty prefix is refused without --all (naming the flag, before
    // asking the server), and deletes nothing.
    let refused = client(&host, &["del", "--prefix", ""]);
    let err = fails(&refused, 2);
    assert!(err.contains("add --all"), "{err}");
    assert_eq!(keys(&server), vec!["a", "a2", "b/1"]);
    assert_eq!(store_rev(&server), rev + 1);

    let out = ok(&client(&host, &["del", "--prefix", "", "--all"]));
    assert_eq!(out, format!("deleted 3 keys (revision {})\n", rev + 2));
    assert!(keys(&server).is_empty());
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a txn file");
    path.to_str().expect("a UTF-8 path").to_owned()
}

fn answer(output: &Output, code: i32) -> Value {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        stderr(output)
    );
    assert_eq!(stderr(output), "");
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text:?}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

#[test]
fn txn_from_a_file_or_stdin_exits_by_branch() {
    let server = server();
    let host = server.base_url();
    let dir = tempfile::tempdir().expect("temp dir");

    let create = write_file(
        dir.path(),
        "create.json",
        r#"{"compare": [{"key": "k", "target": "exists", "value": false}],
            "success": [{"put": {"key": "k", "value": "1"}}, {"put": {"key": "j", "value": "1"}}],
            "failure": [{"get": {"key": "k"}}]}"#,
    );
    let first = answer(&client(&host, &["-o", "json", "txn", &create]), 0);
    assert_eq!(first["succeeded"], json!(true));
    assert_eq!(
        first["results"],
        json!([{"put": {"created": true}}, {"put": {"created": true}}])
    );
    let rev = first["rev"].as_u64().expect("rev");

    // The same file again: the key exists, so the failure branch runs.
    let second = answer(&client(&host, &["--json", "txn", &create]), 7);
    assert_eq!(second["succeeded"], json!(false));
    assert_eq!(second["rev"], json!(rev), "a get changes nothing");
    let entry = &second["results"][0]["get"]["entry"];
    assert_eq!(
        (&entry["value"], &entry["mod_rev"]),
        (&json!("1"), &json!(rev))
    );

    // From stdin: a compare-and-swap on the revision just read.
    let cas = format!(
        r#"{{"compare": [{{"key": "k", "target": "mod_rev", "value": {rev}}}],
            "success": [{{"put": {{"key": "k", "value": "2"}}}}, {{"delete": {{"key": "j"}}}}]}}"#
    );
    let third = answer(&client_with_stdin(&host, &["--json", "txn", "-"], &cas), 0);
    assert_eq!(third["succeeded"], json!(true));
    assert_eq!(third["rev"], json!(rev + 1));
    assert_eq!(
        third["results"],
        json!([{"put": {"created": false}}, {"delete": {"deleted": true}}])
    );
    let stale = answer(&client_with_stdin(&host, &["--json", "txn", "-"], &cas), 7);
    assert_eq!(
        (&stale["succeeded"], &stale["results"]),
        (&json!(false), &json!([]))
    );
    assert_eq!(keys(&server), vec!["k"]);
    // Text: what each operation of the branch that ran did.
    let text = client(&host, &["txn", &create]);
    assert_eq!(text.status.code(), Some(7));
    assert_eq!(
        stdout(&text),
        format!(
            "failed (revision {}): the failure branch ran\nget\tk\t2\n",
            rev + 1
        )
    );

    // Malformed: not JSON, refused by the server, missing. One line each,
    // a non-zero exit, and nothing changed.
    let before = store_rev(&server);
    let not_json = write_file(dir.path(), "bad.json", "{\"success\": [\n");
    // Not JSON is bad input (9); a file that cannot be read, a local
    // error (5), naming it.
    let err = fails(&client(&host, &["txn", &not_json]), 9);
    assert!(err.contains("bad.json"), "{err}");
    fails(&client_with_stdin(&host, &["txn", "-"], "put k 3"), 9);
    let refused = write_file(
        dir.path(),
        "refused.json",
        r#"{"success": [{"put": {"key": "k"}}]}"#,
    );
    let err = fails(&client(&host, &["txn", &refused]), 4);
    assert!(err.contains("success[0]"), "{err}");
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().expect("a UTF-8 path");
    assert_ne!(client(&host, &["txn", missing]).status.code(), Some(0));
    let err = fails(&client(&host, &["txn", missing]), 5);
    assert!(err.contains(&format!("cannot read {missing}")), "{err}");
    assert_eq!(store_rev(&server), before);
}
