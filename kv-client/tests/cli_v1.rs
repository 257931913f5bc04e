//! The real `client` binary's /v1 commands (`put`, `get --meta`,
//! `get --rev`, `del`) against the real `server` binary.

mod common;

use common::{assert_exit, client, client_with_stdin, stderr, stdout};
use std::process::Output;

use base64::Engine as _;
use kv_core::api::key_path;
use kv_testkit::{cargo_bin, TestServer};
use serde_json::{json, Value};

fn server() -> TestServer {
    TestServer::start(cargo_bin("server"), &["--in-memory"])
}

/// `get KEY --meta`, which must succeed, parsed.
fn meta(host: &str, key: &str) -> Value {
    let out = client(host, &["-o", "json", "get", key, "--meta"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    serde_json::from_str(&stdout(&out)).expect("get --meta prints JSON")
}

/// The value's bytes from a `get --meta` entry, decoding base64
/// independently of the client and server.
fn value_bytes(entry: &Value) -> Vec<u8> {
    let value = entry["value"].as_str().expect("a value");
    match entry["encoding"].as_str() {
        Some("utf8") => value.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(value)
            .expect("valid base64"),
        other => panic!("unknown encoding {other:?} in {entry}"),
    }
}

/// `put KEY VALUE` (exit 0), returning the revision it printed.
fn put(host: &str, key: &str, value: &str) -> u64 {
    let out = client(host, &["--json", "put", key, value]);
    assert_exit(&out, 0);
    let answer: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    answer["rev"].as_u64().expect("rev")
}

/// Asserts a failed condition: exit 7, nothing on stdout, one line on stderr.
fn assert_condition_failed(out: &Output) {
    assert_exit(out, 7);
    assert_eq!(stdout(out), "");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: precondition failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn put_get_meta_get_rev_and_del() {
    let server = server();
    let host = server.base_url();
    let out = client(&host, &["put", "greeting", "hello world"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "OK (revision 1)\n");
    assert_eq!(stderr(&out), "");

    let out = client(&host, &["put", "greeting", "hello again"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "OK (revision 2)\n");
    // Another key moves the store revision past the key's.
    assert_eq!(put(&host, "other", "x"), 3);

    let entry = meta(&host, "greeting");
    assert_eq!(
        entry,
        json!({
            "key": "greeting", "value": "hello again", "encoding": "utf8",
            "create_rev": 1, "mod_rev": 2, "version": 2, "rev": 3,
        })
    );
    let out = client(&host, &["get", "greeting", "--rev"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "2\n");
    // The original `get` sees the value written by `put`.
    let out = client(&host, &["get", "greeting"]);
    assert_eq!(stdout(&out), "hello again\n");

    let out = client(&host, &["del", "greeting"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "OK (revision 4)\n");
    for args in [
        &["del", "greeting"][..],
        &["get", "greeting", "--meta"],
        &["get", "greeting", "--rev"],
    ] {
        let out = client(&host, args);
        assert_exit(&out, 1);
        assert_eq!(stdout(&out), "", "{args:?}");
        assert_eq!(stderr(&out), "key not found: greeting\n", "{args:?}");
    }
}

#[test]
fn put_reads_the_value_from_stdin_byte_for_byte() {
    let server = server();
    let host = server.base_url();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let out = client_with_stdin(&host, &["put", "bin", "-"], &all_bytes);
    assert_exit(&out, 0);
    let entry = meta(&host, "bin");
    assert_eq!(entry["encoding"], json!("base64"), "{entry}");
    assert!(
        value_bytes(&entry) == all_bytes,
        "the bytes differ: {entry}"
    );
    assert_eq!(entry["version"], json!(1));

    // Without a value at all: stdin too, trailing newline and all.
    let out = client_with_stdin(&host, &["put", "text"], "línea 1\nline 2\n".as_bytes());
    assert_exit(&out, 0);
    let entry = meta(&host, "text");
    assert_eq!(
        (&entry["value"], &entry["encoding"]),
        (&json!("línea 1\nline 2\n"), &json!("utf8"))
    );

    // Invalid UTF-8 through `-`, checked on the raw route too.
    let invalid = [b'a', 0xff, 0xfe, 0xc3, 0x28, 0x00, 0x80];
    let out = client_with_stdin(&host, &["put", "invalid", "-"], invalid);
    assert_exit(&out, 0);
    assert!(value_bytes(&meta(&host, "invalid")) == invalid);
    let raw = ureq::get(server.url(&key_path("invalid")))
        .call()
        .expect("GET")
        .body_mut()
        .read_to_vec()
        .expect("read");
    assert!(raw == invalid, "raw GET: {raw:?}");

    // An empty stdin stores an empty value.
    let out = client_with_stdin(&host, &["put", "empty"], b"");
    assert_exit(&out, 0);
    assert_eq!(meta(&host, "empty")["value"], json!(""));
}

#[test]
fn if_rev_and_create_make_writes_conditional() {
    let server = server();
    let host = server.base_url();
    let first = put(&host, "k", "v1");

    let out = client(&host, &["put", "k", "v2", "--if-rev", &first.to_string()]);
    assert_exit(&out, 0);
    let second = meta(&host, "k")["mod_rev"].as_u64().expect("mod_rev");
    assert_eq!(stdout(&out), format!("OK (revision {second})\n"));

    // A stale revision: exit 7, one line naming the current revision.
    let out = client(&host, &["put", "k", "v3", "--if-rev", &first.to_string()]);
    assert_condition_failed(&out);
    assert!(
        stderr(&out).contains(&second.to_string()),
        "{}",
        stderr(&out)
    );
    let entry = meta(&host, "k");
    assert_eq!(
        (&entry["value"], &entry["mod_rev"]),
        (&json!("v2"), &json!(second))
    );
    // On a missing key.
    let out = client(&host, &["put", "missing", "x", "--if-rev", "1"]);
    assert_condition_failed(&out);
    assert_exit(&client(&host, &["get", "missing", "--meta"]), 1);

    // --create: once.
    let out = client(&host, &["put", "new", "n1", "--create"]);
    assert_exit(&out, 0);
    let out = client(&host, &["put", "new", "n2", "--create"]);
    assert_condition_failed(&out);
    assert_eq!(meta(&host, "new")["value"], json!("n1"));

    // del --if-rev: a wrong revision keeps the key, the right one removes it.
    let out = client(&host, &["del", "k", "--if-rev", &first.to_string()]);
    assert_condition_failed(&out);
    assert_eq!(meta(&host, "k")["value"], json!("v2"));
    let out = client(&host, &["del", "k", "--if-rev", &second.to_string()]);
    assert_exit(&out, 0);
    assert_exit(&client(&host, &["get", "k", "--meta"]), 1);

    // The two conditions together are a usage error.
    let out = client(&host, &["put", "k", "x", "--if-rev", "1", "--create"]);
    assert_exit(&out, 2);
    assert_exit(&client(&host, &["get", "k", "--meta", "--rev"]), 2);
    assert_exit(&client(&host, &["get", "new", "--meta"]), 0);
}

#[test]
fn content_type_is_stored_and_served() {
    let server = server();
    let host = server.base_url();
    let out = client(
        &host,
        &[
            "put",
            "doc",
            r#"{"a": 1}"#,
            "--content-type",
            "application/json",
        ],
    );
    assert_exit(&out, 0);
    let entry = meta(&host, "doc");
    assert_eq!(entry["content_type"], json!("application/json"));
    assert_eq!(entry["value"], json!(r#"{"a": 1}"#));
    let response = ureq::get(server.url(&key_path("doc"))).call().expect("GET");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    // Without --content-type, none is stored.
    put(&host, "plain", "x");
    assert_eq!(meta(&host, "plain").get("content_type"), None);
}

#[test]
fn json_prints_the_answers_of_put_and_del() {
    let server = server();
    let host = server.base_url();
    let parse = |out: &Output| -> Value {
        assert_exit(out, 0);
        serde_json::from_str(&stdout(out)).expect("JSON")
    };
    let created = parse(&client(&host, &["--json", "put", "k", "v1"]));
    assert_eq!(created, json!({"rev": 1, "created": true}));
    let replaced = parse(&client(&host, &["put", "k", "v2", "--json"]));
    assert_eq!(replaced, json!({"rev": 2, "created": false}));
    let deleted = parse(&client(&host, &["--json", "del", "k"]));
    assert_eq!(deleted, json!({"rev": 3}));
    let missing = client(&host, &["--json", "del", "k"]);
    assert_exit(&missing, 1);
    assert_eq!(stderr(&missing), "key not found: k\n");
}

#[test]
fn keys_with_reserved_and_multibyte_characters() {
    let server = server();
    let host = server.base_url();
    for key in ["a/b c", "100%?x=1#frag", "a+b", "ключ/🔑"] {
        let value = format!("value of {key}");
        put(&host, key, &value);
        let entry = meta(&host, key);
        assert_eq!(
            (&entry["key"], &entry["value"]),
            (&json!(key), &json!(value))
        );
        let out = client(&host, &["get", key]);
        assert_eq!(stdout(&out), format!("{value}\n"), "basic get {key:?}");
    }
    // "a b" and "a+b" are different keys.
    assert_exit(&client(&host, &["get", "a b", "--meta"]), 1);
}

#[test]
fn get_consistent_reads_like_get_on_a_single_node() {
    let server = server();
    let host = server.base_url();
    put(&host, "k", "v1");
    for args in [
        &["get", "k", "--consistent"][..],
        &["get", "k", "--consistent", "--meta"],
    ] {
        let out = client(&host, args);
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("v1"), "{args:?}: {}", stdout(&out));
    }
    let missing = client(&host, &["get", "nope", "--consistent"]);
    assert_exit(&missing, 1);
}
