//! `GET|PUT|DELETE /v1/kv/{key}`: raw values (any bytes) in the body, keys
//! in the path, metadata in headers, conditions in `If-Match` /
//! `If-None-Match`; the same data through the original routes, across restarts
//! and under concurrent compare-and-set.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use kv_core::api::key_path;
use kv_testkit::http::{agent, get, post_json, raw_exchange, request, send_with, Answer};
use kv_testkit::TestServer;
use serde_json::{json, Value};

use crate::start;

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    send_with(&agent(), method, url, headers, body)
}

fn url(server: &TestServer, key: &str) -> String {
    server.url(&key_path(key))
}

fn put(server: &TestServer, key: &str, value: &[u8], headers: &[(&str, &str)]) -> Answer {
    send("PUT", &url(server, key), headers, Some(value))
}

/// `GET` of the raw value.
fn get_raw(server: &TestServer, key: &str) -> Answer {
    send("GET", &url(server, key), &[], None)
}

/// `GET ?format=json`: the entry, which must exist.
fn entry(server: &TestServer, key: &str) -> Value {
    let answer = send(
        "GET",
        &format!("{}?format=json", url(server, key)),
        &[],
        None,
    );
    assert_eq!(answer.status, 200, "GET {key:?} as JSON: {}", answer.text());
    answer.json()
}

fn delete(server: &TestServer, key: &str, headers: &[(&str, &str)]) -> Answer {
    send("DELETE", &url(server, key), headers, None)
}

/// `"<rev>"`, as `ETag` and `If-Match` carry a revision.
fn tag(rev: u64) -> String {
    format!("\"{rev}\"")
}

/// Asserts the status and the `{"error": {"code", "message"}}` shape.
fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "body: {}", answer.text());
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = answer.json();
    assert_eq!(
        body["error"]["code"],
        json!(code),
        "body: {}",
        answer.text()
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message: {}",
        answer.text()
    );
}

/// Decodes standard base64, independently of the server's encoder.
fn unbase64(text: &Value) -> Vec<u8> {
    let text = text.as_str().expect("a base64 string");
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("not base64 ({e}): {text:?}"))
}

/// The key's bytes as the raw body and, decoded, in the JSON entry.
fn assert_value(server: &TestServer, key: &str, value: &[u8], content_type: Option<&str>) {
    let raw = get_raw(server, key);
    assert_eq!(raw.status, 200, "GET {key:?}: {}", raw.text());
    assert!(raw.body == value, "GET {key:?}: the bytes differ");
    assert_eq!(
        raw.header("content-type"),
        Some(content_type.unwrap_or("application/octet-stream")),
        "GET {key:?}"
    );
    // Served as data: no browser sniffs it or runs it.
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(raw.header("content-security-policy"), Some("sandbox"));
    let entry = entry(server, key);
    assert_eq!(entry["key"], json!(key));
    let decoded = match std::str::from_utf8(value) {
        Ok(text) => {
            assert_eq!(entry["encoding"], json!("utf8"), "{key:?}");
            assert_eq!(entry["value"], json!(text), "{key:?}");
            text.as_bytes().to_vec()
        }
        Err(_) => {
            assert_eq!(entry["encoding"], json!("base64"), "{key:?}");
            unbase64(&entry["value"])
        }
    };
    assert!(decoded == value, "{key:?}: the JSON value differs");
    assert_eq!(
        entry.get("content_type"),
        content_type.map(|ct| json!(ct)).as_ref()
    );
}

/// Every byte value, in order.
fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

/// Bytes that are not UTF-8: a lone continuation byte, a truncated
/// sequence, an overlong encoding, a surrogate, and bytes never valid.
fn invalid_utf8() -> Vec<u8> {
    vec![
        b'a', 0x80, b'b', 0xc3, 0x28, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0x00, 0xf8,
    ]
}

#[test]
fn put_creates_then_replaces_and_get_reports_the_metadata() {
    let server = start(&["--in-memory"]);
    let created = put(&server, "k", b"one", &[]);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.json(), json!({"rev": 1, "created": true}));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.number("x-kv-revision"), 1);

    let replaced = put(&server, "k", b"two", &[]);
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    assert_eq!(replaced.json(), json!({"rev": 2, "created": false}));
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    assert_eq!(replaced.number("x-kv-revision"), 2);

    // Another key moves the store revision but not k's metadata.
    assert_eq!(put(&server, "other", b"x", &[]).status, 201);
    let raw = get_raw(&server, "k");
    assert_eq!(raw.status, 200);
    assert_eq!(raw.body, b"two");
    assert_eq!(raw.header("etag"), Some("\"2\""));
    assert_eq!(raw.number("x-kv-revision"), 3);
    assert_eq!(raw.number("x-kv-create-revision"), 1);
    assert_eq!(raw.number("x-kv-version"), 2);

    let expected = json!({
        "key": "k", "value": "two", "encoding": "utf8",
        "create_rev": 1, "mod_rev": 2, "version": 2, "rev": 3,
    });
    let by_query = send(
        "GET",
        &format!("{}?format=json", url(&server, "k")),
        &[],
        None,
    );
    assert_eq!(by_query.header("content-type"), Some("application/json"));
    assert_eq!(by_query.json(), expected);
    assert_eq!(by_query.header("etag"), Some("\"2\""));
    let by_accept = send(
        "GET",
        &url(&server, "k"),
        &[("accept", "application/json")],
        None,
    );
    assert_eq!(by_accept.header("content-type"), Some("application/json"));
    assert_eq!(by_accept.json(), expected);

    // Each write bumps the version; create_rev stays.
    assert_eq!(put(&server, "k", b"three", &[]).status, 200);
    let third = entry(&server, "k");
    assert_eq!(
        (&third["create_rev"], &third["mod_rev"], &third["version"]),
        (&json!(1), &json!(4), &json!(3))
    );

    // An empty value is a value.
    assert_eq!(put(&server, "empty", b"", &[]).status, 201);
    assert_value(&server, "empty", b"", None);

    let deleted = delete(&server, "k", &[]);
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(deleted.json(), json!({"rev": 6}));
    assert_eq!(deleted.number("x-kv-revision"), 6);
    assert_error(&get_raw(&server, "k"), 404, "key_not_found");
    assert_error(
        &send(
            "GET",
            &format!("{}?format=json", url(&server, "k")),
            &[],
            None,
        ),
        404,
        "key_not_found",
    );
    assert_error(&delete(&server, "k", &[]), 404, "key_not_found");
    assert_error(&delete(&server, "never", &[]), 404, "key_not_found");
    assert_eq!(get(&server.url("/get?key=k")).json()["found"], json!(false));

    // Created again after the delete: a new life, version 1.
    let again = put(&server, "k", b"reborn", &[]);
    assert_eq!(again.status, 201);
    assert_eq!(again.json(), json!({"rev": 7, "created": true}));
    let reborn = entry(&server, "k");
    assert_eq!(
        (
            &reborn["create_rev"],
            &reborn["mod_rev"],
            &reborn["version"]
        ),
        (&json!(7), &json!(7), &json!(1))
    );
}

#[test]
fn utf8_and_binary_values_in_json_and_raw_with_their_content_type() {
    let server = start(&["--in-memory"]);
    let cases: [(&str, Vec<u8>, Option<&str>); 5] = [
        ("text", "héllo ✓ \"q\" \\ \n\t\0".as_bytes().to_vec(), None),
        (
            "typed",
            b"{\"a\": 1}".to_vec(),
            Some("application/json; charset=utf-8"),
        ),
        ("all-bytes", all_bytes(), None),
        ("invalid", invalid_utf8(), Some("image/png")),
        ("truncated", "日本".as_bytes()[..4].to_vec(), None),
    ];
    for (key, value, content_type) in &cases {
        let headers: Vec<(&str, &str)> = content_type
            .iter()
            .map(|ct| ("content-type", *ct))
            .collect();
        let answer = put(&server, key, value, &headers);
        assert_eq!(answer.status, 201, "{key}: {}", answer.text());
    }
    for (key, value, content_type) in &cases {
        assert_value(&server, key, value, *content_type);
    }
    // A later write without a type drops the old one.
    assert_eq!(put(&server, "typed", b"plain", &[]).status, 200);
    assert_value(&server, "typed", b"plain", None);
    // The original route reads the same key and (UTF-8) value.
    let seed = get(&server.url("/get?key=text"));
    assert_eq!(
        seed.json()["inserted_val"],
        json!("héllo ✓ \"q\" \\ \n\t\0")
    );
}

fn start_in(dir: &Path) -> TestServer {
    TestServer::start_in(env!("CARGO_BIN_EXE_server"), dir, &[], &[])
}

#[test]
fn binary_values_survive_a_graceful_restart_and_a_kill() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut server = start_in(dir.path());
    let mut values = vec![
        ("all-bytes".to_owned(), all_bytes(), None),
        ("invalid".to_owned(), invalid_utf8(), Some("image/png")),
        (
            "utf8".to_owned(),
            "ключ ✓".as_bytes().to_vec(),
            Some("text/plain"),
        ),
    ];
    for (key, value, content_type) in &values {
        let headers: Vec<(&str, &str)> = content_type
            .iter()
            .map(|ct| ("content-type", *ct))
            .collect();
        assert_eq!(put(&server, key, value, &headers).status, 201);
    }
    // A replaced value: the restart must keep the last one and its metadata.
    assert_eq!(put(&server, "all-bytes", &all_bytes(), &[]).status, 200);
    let before = entry(&server, "all-bytes");

    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "exit code after SIGTERM");
    let mut server = start_in(dir.path());
    for (key, value, content_type) in &values {
        assert_value(&server, key, value, content_type.as_deref());
    }
    assert_eq!(entry(&server, "all-bytes"), before, "after SIGTERM");

    let reversed: Vec<u8> = all_bytes().into_iter().rev().collect();
    assert_eq!(
        put(&server, "reversed", &reversed, &[("content-type", "x/y")]).status,
        201
    );
    values.push(("reversed".to_owned(), reversed, Some("x/y")));
    server.kill();
    let server = start_in(dir.path());
    for (key, value, content_type) in &values {
        assert_value(&server, key, value, content_type.as_deref());
    }
    assert_eq!(entry(&server, "all-bytes")["mod_rev"], before["mod_rev"]);
}

#[test]
fn keys_with_reserved_and_multibyte_characters_round_trip_through_the_path() {
    let server = start(&["--in-memory"]);
    let keys = [
        "a/b/c",
        "100%",
        "%41",
        "a b",
        "a+b",
        "what?x=1&y=2",
        "frag#ment",
        "ключ",
        "日本語/キー",
        "🔑 emoji 🎉",
        "/leading",
        "trailing/",
        "a//b",
        "a/../b",
        "./x",
        "semi;colon,comma=eq",
        "quote\"back\\slash",
    ];
    for key in keys {
        let value = format!("value of {key} ✓");
        let answer = put(&server, key, value.as_bytes(), &[]);
        assert_eq!(answer.status, 201, "PUT {key:?} -> {}", answer.text());
    }
    // Checked after all the writes, so two keys that collide would show.
    for key in keys {
        let value = format!("value of {key} ✓");
        assert_value(&server, key, value.as_bytes(), None);
        let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let seed = get(&server.url(&format!("/get?key={encoded}")));
        assert_eq!(seed.status, 200, "{key:?}: {}", seed.body);
        assert_eq!(
            seed.json()["inserted_val"],
            json!(value),
            "basic /get {key:?}"
        );
    }
    // And the other way: written by the original route, read by the path.
    let set = post_json(
        &server.url("/set"),
        &json!({"key": "seed/ü ?#%", "val": "from /set"}),
    );
    assert_eq!(set.status, 201);
    assert_value(&server, "seed/ü ?#%", b"from /set", None);
    for key in keys {
        assert_eq!(delete(&server, key, &[]).status, 200, "DELETE {key:?}");
        assert_error(&get_raw(&server, key), 404, "key_not_found");
    }
}

#[test]
fn invalid_key_paths_are_400_and_change_nothing() {
    let server = start(&["--in-memory"]);
    assert_eq!(put(&server, "witness", b"intact", &[]).status, 201);
    for method in ["GET", "PUT", "DELETE"] {
        let body = (method == "PUT").then_some(&b"x"[..]);
        for path in ["/v1/kv/%FF", "/v1/kv/a%C3", "/v1/kv/%ED%A0%80"] {
            let answer = send(method, &server.url(path), &[], body);
            assert_error(&answer, 400, "bad_request");
        }
        let empty = send(method, &server.url("/v1/kv/"), &[], body);
        assert_error(&empty, 400, "invalid_key");
        let long = send(method, &url(&server, &"k".repeat(1025)), &[], body);
        assert_error(&long, 400, "invalid_key");
    }
    let witness = entry(&server, "witness");
    assert_eq!(
        (&witness["rev"], &witness["value"]),
        (&json!(1), &json!("intact"))
    );
}

#[test]
fn post_and_other_methods_are_405_with_allow() {
    let server = start(&["--in-memory"]);
    for method in ["POST", "PATCH"] {
        let reply = request(
            method,
            &server.url("/v1/kv/k"),
            Some("text/plain"),
            Some(b"x"),
        );
        assert_eq!(reply.status, 405, "{method}: {}", reply.body);
        assert_eq!(reply.error_code(), "method_not_allowed");
        assert_eq!(reply.allow.as_deref(), Some("GET, PUT, DELETE"), "{method}");
    }
    assert_error(&get_raw(&server, "k"), 404, "key_not_found");
}

/// The store revision, read through an existing key's JSON entry.
fn store_rev(server: &TestServer) -> u64 {
    entry(server, "witness")["rev"].as_u64().expect("rev")
}

/// Asserts a 412 whose body names the key's `mod_rev` (or none) and the
/// store revision.
fn assert_condition_failed(answer: &Answer, mod_rev: Option<u64>, rev: u64) {
    assert_error(answer, 412, "condition_failed");
    let error = &answer.json()["error"];
    assert_eq!(
        error.get("mod_rev"),
        mod_rev.map(|r| json!(r)).as_ref(),
        "{error}"
    );
    assert_eq!(error["rev"], json!(rev), "{error}");
}

#[test]
fn if_match_and_if_none_match_make_put_and_delete_conditional() {
    let server = start(&["--in-memory"]);
    assert_eq!(put(&server, "witness", b"w", &[]).status, 201);
    let first = put(&server, "k", b"v1", &[]).json()["rev"]
        .as_u64()
        .expect("rev");

    // If-Match on the current revision: applies.
    let ok = put(&server, "k", b"v2", &[("if-match", &tag(first))]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let second = ok.json()["rev"].as_u64().expect("rev");
    assert_eq!(ok.header("etag"), Some(tag(second).as_str()));

    // A stale revision: 412 naming the current one, and nothing changes.
    let stale = put(&server, "k", b"v3", &[("if-match", &tag(first))]);
    assert_condition_failed(&stale, Some(second), second);
    assert_value(&server, "k", b"v2", None);
    assert_eq!(entry(&server, "k")["mod_rev"], json!(second));
    assert_eq!(store_rev(&server), second);

    // A missing key with If-Match: 412 without mod_rev; still missing.
    let missing = put(&server, "nope", b"x", &[("if-match", &tag(second))]);
    assert_condition_failed(&missing, None, second);
    let missing = put(&server, "nope", b"x", &[("if-match", "*")]);
    assert_condition_failed(&missing, None, second);
    assert_error(&get_raw(&server, "nope"), 404, "key_not_found");
    assert_eq!(store_rev(&server), second);

    // If-Match: * on an existing key applies.
    let any = put(&server, "k", b"v4", &[("if-match", "*")]);
    assert_eq!(any.status, 200, "{}", any.text());
    let fourth = any.json()["rev"].as_u64().expect("rev");

    // If-None-Match: * creates once.
    let created = put(&server, "new", b"n1", &[("if-none-match", "*")]);
    assert_eq!(created.status, 201, "{}", created.text());
    let created_rev = created.json()["rev"].as_u64().expect("rev");
    let again = put(&server, "new", b"n2", &[("if-none-match", "*")]);
    assert_condition_failed(&again, Some(created_rev), created_rev);
    assert_value(&server, "new", b"n1", None);
    let on_existing = put(&server, "k", b"v5", &[("if-none-match", "*")]);
    assert_condition_failed(&on_existing, Some(fourth), created_rev);

    // Malformed or contradictory conditions: 400, nothing changes.
    for headers in [
        &[("if-match", tag(fourth)), ("if-none-match", "*".to_owned())][..],
        &[("if-none-match", tag(fourth))],
        &[("if-none-match", "\"*\"".to_owned())],
        &[("if-match", "abc".to_owned())],
        &[("if-match", "\"x1\"".to_owned())],
        &[("if-match", "\"-1\"".to_owned())],
        &[("if-match", "\"99999999999999999999999\"".to_owned())],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let put_answer = put(&server, "k", b"bad", &headers);
        assert_error(&put_answer, 400, "bad_request");
        let delete_answer = delete(&server, "k", &headers);
        assert_error(&delete_answer, 400, "bad_request");
    }
    assert_value(&server, "k", b"v4", None);
    assert_eq!(store_rev(&server), created_rev);

    // DELETE: a stale revision fails and keeps the key; the right one removes it.
    let stale = delete(&server, "k", &[("if-match", &tag(second))]);
    assert_condition_failed(&stale, Some(fourth), created_rev);
    let absent_only = delete(&server, "k", &[("if-none-match", "*")]);
    assert_condition_failed(&absent_only, Some(fourth), created_rev);
    assert_value(&server, "k", b"v4", None);
    assert_eq!(store_rev(&server), created_rev);
    let removed = delete(&server, "k", &[("if-match", &tag(fourth))]);
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(removed.json(), json!({"rev": created_rev + 1}));
    assert_error(&get_raw(&server, "k"), 404, "key_not_found");

    // DELETE of a missing key with If-Match: 412 without mod_rev.
    let gone = delete(&server, "k", &[("if-match", &tag(fourth))]);
    assert_condition_failed(&gone, None, created_rev + 1);
    let gone = delete(&server, "k", &[("if-match", "*")]);
    assert_condition_failed(&gone, None, created_rev + 1);
    let any = delete(&server, "new", &[("if-match", "*")]);
    assert_eq!(any.status, 200, "{}", any.text());
    assert_eq!(store_rev(&server), created_rev + 2);
}

/// Sends a `PUT` of `value` with `Transfer-Encoding: chunked` (no
/// `Content-Length`) in chunks of `chunk` bytes; returns the raw answer.
fn put_chunked(server: &TestServer, key: &str, value: &[u8], chunk: usize) -> String {
    let mut raw = format!(
        "PUT {} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        key_path(key)
    )
    .into_bytes();
    for part in value.chunks(chunk) {
        raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        raw.extend_from_slice(part);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw_exchange(server.addr(), &raw)
}

#[test]
fn values_over_the_limit_are_413_and_at_the_limit_are_stored() {
    let server = start(&["--in-memory", "--max-value-bytes", "1000"]);
    let at_limit: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let over = vec![b'v'; 1001];

    let ok = put(&server, "at", &at_limit, &[]);
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_value(&server, "at", &at_limit, None);

    // With Content-Length.
    assert_error(&put(&server, "over", &over, &[]), 413, "payload_too_large");
    let big = vec![b'v'; 200 * 1024];
    assert_error(&put(&server, "over", &big, &[]), 413, "payload_too_large");
    // Over an existing key: the old value stays.
    assert_error(&put(&server, "at", &over, &[]), 413, "payload_too_large");

    // Chunked: just over, far over, and exactly at the limit.
    for (value, chunk) in [(&over, 100), (&big, 8192), (&over, 1001)] {
        let answer = put_chunked(&server, "chunked", value, chunk);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
    }
    assert_error(&get_raw(&server, "over"), 404, "key_not_found");
    assert_error(&get_raw(&server, "chunked"), 404, "key_not_found");
    assert_value(&server, "at", &at_limit, None);
    assert_eq!(
        entry(&server, "at")["rev"],
        json!(1),
        "a refused write took a revision"
    );

    let answer = put_chunked(&server, "chunked", &at_limit, 300);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_value(&server, "chunked", &at_limit, None);
}

/// Writes `raw`, the start of a request whose body never ends, and returns
/// the head of the answer the server sends meanwhile (empty if it sends
/// none within 10 s).
fn answer_before_the_body_ends(server: &TestServer, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    stream
        .write_all(raw)
        .expect("send the start of the request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_oversized_body_is_refused_before_it_ends() {
    let server = start(&["--in-memory", "--max-value-bytes", "1000"]);
    // A Content-Length over the limit: refused from the header alone.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\nfirst bytes",
        key_path("declared")
    );
    let answer = answer_before_the_body_ends(&server, head.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    // A chunked body that goes on: refused once it passes the limit.
    let mut raw = format!(
        "PUT {} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        key_path("endless")
    )
    .into_bytes();
    for _ in 0..3 {
        raw.extend_from_slice(b"200\r\n");
        raw.extend_from_slice(&[b'v'; 0x200]);
        raw.extend_from_slice(b"\r\n");
    }
    let answer = answer_before_the_body_ends(&server, &raw);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert_error(&get_raw(&server, "declared"), 404, "key_not_found");
    assert_error(&get_raw(&server, "endless"), 404, "key_not_found");
}

const CAS_THREADS: usize = 8;
const CAS_ROUNDS: usize = 50;

/// Adds one to the counter `CAS_ROUNDS` times by read + `If-Match` write,
/// retrying on 412. Returns the revisions of its successful writes and the
/// number of 412s.
fn cas_increments(base: String) -> (Vec<u64>, usize) {
    let agent = agent();
    let url = format!("{base}{}", key_path("counter"));
    let mut revs = Vec::new();
    let mut conflicts = 0;
    for _ in 0..CAS_ROUNDS {
        loop {
            let read = send_with(&agent, "GET", &format!("{url}?format=json"), &[], None);
            assert_eq!(read.status, 200, "{}", read.text());
            let entry = read.json();
            let mod_rev = entry["mod_rev"].as_u64().expect("mod_rev");
            let count: u64 = entry["value"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("counter is not a number: {entry}"));
            let next = (count + 1).to_string();
            let write = send_with(
                &agent,
                "PUT",
                &url,
                &[("if-match", &tag(mod_rev))],
                Some(next.as_bytes()),
            );
            match write.status {
                200 | 201 => {
                    revs.push(write.json()["rev"].as_u64().expect("rev"));
                    break;
                }
                412 => conflicts += 1,
                other => panic!("PUT answered {other}: {}", write.text()),
            }
        }
    }
    (revs, conflicts)
}

#[test]
fn compare_and_set_loses_no_update_under_concurrency() {
    // On disk with fsync always, so writes queue up and commit in batches.
    let server = start(&[]);
    assert_eq!(put(&server, "counter", b"0", &[]).status, 201);
    let threads: Vec<_> = (0..CAS_THREADS)
        .map(|_| {
            let base = server.base_url();
            std::thread::spawn(move || cas_increments(base))
        })
        .collect();
    let mut revs = Vec::new();
    let mut conflicts = 0;
    for thread in threads {
        let (mine, lost) = thread.join().expect("a CAS thread panicked");
        revs.extend(mine);
        conflicts += lost;
    }
    let total = (CAS_THREADS * CAS_ROUNDS) as u64;
    assert_eq!(revs.len() as u64, total, "successful writes");
    // Only the counter is written: its writes took revisions 2..=401, each once.
    let distinct: BTreeSet<u64> = revs.iter().copied().collect();
    assert_eq!(
        distinct,
        (2..=total + 1).collect(),
        "revisions of the writes"
    );
    let last = entry(&server, "counter");
    assert_eq!(last["value"], json!(total.to_string()), "lost updates");
    assert_eq!(last["version"], json!(total + 1));
    assert_eq!(last["mod_rev"], json!(total + 1));
    eprintln!("compare-and-set: {total} increments, {conflicts} conflicts (412)");
}

/// Reads of a key while other clients keep writing it.
const RACE_READS: usize = 2000;
const RACE_WRITERS: usize = 4;

/// The revision in an `ETag: "<rev>"`.
fn etag_rev(answer: &Answer) -> u64 {
    let etag = answer.header("etag").expect("an ETag");
    etag.trim_matches('"')
        .parse()
        .unwrap_or_else(|e| panic!("ETag {etag:?} is not a revision: {e}"))
}

#[test]
fn a_read_never_reports_a_store_revision_older_than_the_value_it_returns() {
    let server = start(&["--in-memory"]);
    assert_eq!(put(&server, "hot", b"0", &[]).status, 201);
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..RACE_WRITERS)
        .map(|_| {
            let (url, stop) = (url(&server, "hot"), Arc::clone(&stop));
            std::thread::spawn(move || {
                let agent = agent();
                while !stop.load(Ordering::Relaxed) {
                    let answer = send_with(&agent, "PUT", &url, &[], Some(b"x"));
                    assert_eq!(answer.status, 200, "{}", answer.text());
                }
            })
        })
        .collect();
    let agent = agent();
    let json_url = format!("{}?format=json", url(&server, "hot"));
    let mut violation = None;
    for read in 0..RACE_READS {
        let answer = send_with(&agent, "GET", &json_url, &[], None);
        assert_eq!(answer.status, 200, "{}", answer.text());
        let entry = answer.json();
        let (rev, mod_rev) = (entry["rev"].as_u64(), entry["mod_rev"].as_u64());
        let header_rev = answer.number("x-kv-revision");
        if rev < mod_rev || header_rev < etag_rev(&answer) {
            violation = Some(format!(
                "read {read}: {entry} with X-Kv-Revision {header_rev}, ETag {:?}",
                answer.header("etag")
            ));
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("a writer panicked");
    }
    // The store revision is at least the revision of every write it holds.
    assert_eq!(violation, None, "rev (X-Kv-Revision) below mod_rev (ETag)");
}

#[test]
fn an_empty_content_type_is_no_content_type_before_and_after_a_restart() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let mut server = start_in(dir.path());
    let answer = put(&server, "k", b"v", &[("content-type", "")]);
    assert_eq!(answer.status, 201, "{}", answer.text());
    let before = entry(&server, "k");
    let before_type = get_raw(&server, "k")
        .header("content-type")
        .map(str::to_owned);
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0), "exit code after SIGTERM");
    let server = start_in(dir.path());
    let after = entry(&server, "k");
    let after_type = get_raw(&server, "k")
        .header("content-type")
        .map(str::to_owned);
    assert_eq!(
        (before.get("content_type"), before_type.as_deref()),
        (after.get("content_type"), after_type.as_deref()),
        "the content type read back changed across a restart"
    );
    assert_value(&server, "k", b"v", None);
}
