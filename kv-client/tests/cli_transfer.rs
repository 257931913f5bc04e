//! The real `client` binary's `export`, `import` and `completions` against
//! the real `server` binary.

mod common;

use common::{assert_exit, client, client_with_stdin, stderr, stdout};
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use kv_testkit::now_ms;
use kv_testkit::{cargo_bin, TestServer};
use serde_json::Value;

fn server() -> TestServer {
    TestServer::start(cargo_bin("server"), &["--in-memory"])
}

/// `put` with extra arguments, which must succeed.
fn put(host: &str, args: &[&str]) {
    let mut all = vec!["put"];
    all.extend_from_slice(args);
    assert_exit(&client(host, &all), 0);
}

/// `export` (with extra arguments), which must succeed: the NDJSON text,
/// after checking the count on stderr.
fn export(host: &str, args: &[&str], count: usize) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = client(host, &all);
    assert_exit(&out, 0);
    let summary = format!("exported {count} keys at revision ");
    assert!(stderr(&out).starts_with(&summary), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), count, "{text}");
    text
}

/// `get KEY --meta`, parsed; `None` when the key does not exist (exit 1).
fn meta(host: &str, key: &str) -> Option<Value> {
    let out = client(host, &["-o", "json", "get", key, "--meta"]);
    if out.status.code() == Some(1) {
        return None;
    }
    assert_exit(&out, 0);
    Some(serde_json::from_str(&stdout(&out)).expect("get --meta prints JSON"))
}

/// The value's bytes of an entry or an export line, decoding base64
/// independently of the client.
fn value_bytes(record: &Value) -> Vec<u8> {
    let value = record["value"].as_str().expect("a value");
    match record["encoding"].as_str() {
        None | Some("utf8") => value.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("valid base64"),
        other => panic!("unknown encoding {other:?} in {record}"),
    }
}

fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn export_then_import_reproduces_everything() {
    let first = server();
    let host = first.base_url();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let texts = [
        ("dir/sub/leaf", "plain"),
        ("with space/a b", "a value with spaces"),
        ("ключ/ü 🔑", "значение ✓ 🔑"),
        ("100%/a+b&c?d=e#f", "query-like key"),
    ];
    for (key, value) in texts {
        put(&host, &[key, value]);
    }
    put(
        &host,
        &["typed", "{\"a\": 1}", "--content-type", "application/json"],
    );
    let out = client_with_stdin(
        &host,
        &[
            "put",
            "bin/all bytes",
            "-",
            "--content-type",
            "application/x-test",
        ],
        &all_bytes,
    );
    assert_exit(&out, 0);
    put(&host, &["ttl/hour", "lives an hour", "--ttl", "1h"]);
    // Last, so it is still there when exported right away.
    put(&host, &["ttl/short", "gone soon", "--ttl", "300ms"]);
    let exported = export(&host, &[], 8);

    let records = parse_lines(&exported);
    let keys: Vec<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "export is in key order");
    let by_key: BTreeMap<&str, &Value> = keys.iter().copied().zip(&records).collect();
    let short = by_key
        .get("ttl/short")
        .expect("the short-lived key is in the export (it must be exported within 300 ms)");
    let short_deadline = short["expires_at"].as_u64().expect("expires_at");
    let binary = by_key["bin/all bytes"];
    assert_eq!(binary["encoding"], "base64", "{binary}");
    assert_eq!(binary["content_type"], "application/x-test");
    assert_eq!(value_bytes(binary), all_bytes);
    for (key, value) in texts {
        assert_eq!(value_bytes(by_key[key]), value.as_bytes(), "{key}");
    }
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &exported).expect("write the export");

    // The short key's deadline must pass between export and import: a
    // wall-clock deadline, not an event to wait for.
    while now_ms() <= short_deadline {
        std::thread::sleep(Duration::from_millis(
            (short_deadline + 1).saturating_sub(now_ms()).max(1),
        ));
    }
    let second = server();
    let host2 = second.base_url();
    let path = file.path().to_str().expect("UTF-8 path");
    let out = client(&host2, &["import", path]);
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "imported 7 keys at revision 1 (1 already expired, skipped)\n"
    );
    assert_eq!(
        meta(&host2, "ttl/short"),
        None,
        "the expired key was imported"
    );

    let expected: String = exported
        .lines()
        .filter(|line| !line.contains("\"ttl/short\""))
        .map(|line| format!("{line}\n"))
        .collect();
    let reexported = export(&host2, &[], 7);
    assert_eq!(
        reexported.lines().collect::<Vec<_>>(),
        expected.lines().collect::<Vec<_>>(),
        "the second server's export differs from the first's"
    );
    assert_eq!(reexported, expected);

    // And what the servers hold agrees, field by field.
    for key in keys.iter().filter(|k| **k != "ttl/short") {
        let (a, b) = (meta(&host, key), meta(&host2, key));
        let (a, b) = (a.expect("on the first"), b.expect("on the second"));
        for field in ["value", "encoding", "content_type", "expires_at"] {
            assert_eq!(a[field], b[field], "{key}: {field}");
        }
    }
    let hour = meta(&host2, "ttl/hour").expect("ttl/hour imported");
    assert_eq!(hour["expires_at"], by_key["ttl/hour"]["expires_at"]);
    assert!(hour["expires_at"].as_u64().expect("expires_at") > now_ms() + 3_000_000);
    let binary = meta(&host2, "bin/all bytes").expect("binary imported");
    assert_eq!(value_bytes(&binary), all_bytes);
    assert_eq!(binary["content_type"], "application/x-test");
}

#[test]
fn export_prefix_and_a_malformed_import() {
    let server = server();
    let host = server.base_url();
    for key in ["a/1", "a/2", "ab", "b/1", "a"] {
        put(&host, &[key, &format!("value of {key}")]);
    }
    let exported = export(&host, &["--prefix", "a/"], 2);
    let keys: Vec<String> = parse_lines(&exported)
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["a/1", "a/2"]);

    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        file.path(),
        "{\"key\":\"m/1\",\"value\":\"x\"}\n{\"key\": \"m/2\", \"value\": \nnot json\n{\"key\":\"m/3\",\"value\":\"z\"}\n",
    )
    .expect("write");
    let out = client(
        &host,
        &["import", file.path().to_str().expect("UTF-8 path")],
    );
    // Bad input (9), naming the file and the line; the record before it
    // is stored, none from it on.
    assert_exit(&out, 9);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    let path = file.path().to_str().expect("UTF-8 path");
    assert!(
        err.starts_with(&format!("error: {path}: line 2: ")),
        "{err}"
    );
    assert!(
        err.contains("the 1 records before it were imported"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(stdout(&out), "", "no success line");
    assert!(meta(&host, "m/1").is_some(), "the line before the bad one");
    assert!(meta(&host, "m/3").is_none(), "a line after the bad one");
}

#[test]
fn a_large_import_commits_in_chunks_of_1024() {
    let server = server();
    let host = server.base_url();
    let ndjson: String = (0..2500)
        .map(|i| format!("{{\"key\":\"bulk/{i:04}\",\"value\":\"value {i}\"}}\n"))
        .collect();
    let out = client_with_stdin(&host, &["import", "-"], ndjson.as_bytes());
    assert_exit(&out, 0);
    assert_eq!(
        stdout(&out),
        "imported 2,500 keys at revision 3 (0 already expired, skipped)\n"
    );
    let out = client(&host, &["--json", "list", "--prefix", "bulk/"]);
    assert_exit(&out, 0);
    let entries = parse_lines(&stdout(&out));
    assert_eq!(entries.len(), 2500, "every key landed");
    let mut per_rev: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["key"], format!("bulk/{i:04}"));
        assert_eq!(entry["value"], format!("value {i}"));
        *per_rev
            .entry(entry["mod_rev"].as_u64().expect("mod_rev"))
            .or_default() += 1;
    }
    // A chunk commits atomically at one revision: 2,500 keys in chunks of
    // 1024.
    assert_eq!(
        per_rev.values().copied().collect::<Vec<_>>(),
        [1024, 1024, 452],
        "keys per revision: {per_rev:?}"
    );
}

#[test]
fn completions_for_each_shell_and_usage_error_for_others() {
    // Nothing is contacted; the address is never used.
    let host = "127.0.0.1:9";
    let out = client(host, &["completions", "bash"]);
    assert_exit(&out, 0);
    let script = stdout(&out);
    for word in ["client", "put", "export", "import", "completions"] {
        assert!(script.contains(word), "the bash script lacks {word:?}");
    }
    assert!(script.contains("complete"), "not a bash completion script");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = client(host, &["completions", shell]);
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("put"), "{shell}");
    }
    let out = client(host, &["completions", "tcsh"]);
    assert_exit(&out, 2);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("tcsh"), "{}", stderr(&out));
}
