//! Every kind of bad input gets the documented status and the one JSON error
//! shape, and leaves the store intact.

use kv_testkit::http::{get, post_json, raw_exchange, request, Reply};
use kv_testkit::TestServer;
use serde_json::json;

use crate::start;

/// Asserts the status and the `{"error": {"code", "message"}}` shape.
fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["error"]["code"], json!(code), "body: {}", reply.body);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message: {}",
        reply.body
    );
}

/// Writes one known key, for checking afterwards that nothing was lost.
fn original_witness(server: &TestServer) {
    let set = post_json(
        &server.url("/set"),
        &json!({"key": "witness", "val": "intact"}),
    );
    assert_eq!(set.status, 201);
}

fn assert_witness(server: &TestServer) {
    let reply = get(&server.url("/get?key=witness"));
    assert_eq!(reply.json()["inserted_val"], json!("intact"));
}

#[test]
fn malformed_bodies_are_400() {
    let server = start(&[]);
    original_witness(&server);
    let json_ct = Some("application/json");
    for (path, body) in [
        ("/set", &b"{\"key\": \"a\""[..]),
        ("/set", b"not json at all"),
        ("/set", b""),
        ("/set", b"[1, 2]"),
        ("/set", br#"{"key": "a", "val": 5}"#),
        ("/set", br#"{"key": "a", "val": "x", "extra": 1}"#),
        ("/set", b"{\"key\": \"a\", \"val\": \"\xff\xfe\"}"),
        ("/rm", b"{"),
        ("/rm", br#"{"key": null}"#),
    ] {
        let reply = request("POST", &server.url(path), json_ct, Some(body));
        assert_error(&reply, 400, "bad_request");
    }
    assert_witness(&server);
}

#[test]
fn missing_key_is_400() {
    let server = start(&[]);
    let set = post_json(&server.url("/set"), &json!({"val": "x"}));
    assert_error(&set, 400, "bad_request");
    assert!(set.body.contains("key"), "{}", set.body);
    let rm = post_json(&server.url("/rm"), &json!({}));
    assert_error(&rm, 400, "bad_request");
    assert_error(&get(&server.url("/get")), 400, "bad_request");
    assert_error(&get(&server.url("/get?other=1")), 400, "bad_request");
    let no_val = post_json(&server.url("/set"), &json!({"key": "a"}));
    assert_error(&no_val, 400, "bad_request");
}

#[test]
fn empty_key_is_400_everywhere() {
    let server = start(&[]);
    assert_error(
        &post_json(&server.url("/set"), &json!({"key": "", "val": "x"})),
        400,
        "invalid_key",
    );
    assert_error(&get(&server.url("/get?key=")), 400, "invalid_key");
    assert_error(
        &post_json(&server.url("/rm"), &json!({"key": ""})),
        400,
        "invalid_key",
    );
}

#[test]
fn key_over_the_limit_is_400_and_at_the_limit_is_fine() {
    let server = start(&[]);
    let at_limit = "k".repeat(1024);
    let over = "k".repeat(1025);
    let ok = post_json(&server.url("/set"), &json!({"key": at_limit, "val": "x"}));
    assert_eq!(ok.status, 201);
    let long = post_json(&server.url("/set"), &json!({"key": over, "val": "x"}));
    assert_error(&long, 400, "invalid_key");
    assert!(long.body.contains("1025"), "{}", long.body);
    assert_error(
        &get(&server.url(&format!("/get?key={over}"))),
        400,
        "invalid_key",
    );
    assert_error(
        &post_json(&server.url("/rm"), &json!({"key": over})),
        400,
        "invalid_key",
    );
}

#[test]
fn value_over_the_limit_is_413_with_content_length() {
    let server = start(&[]);
    original_witness(&server);
    let at_limit = "v".repeat(1024 * 1024);
    let ok = post_json(&server.url("/set"), &json!({"key": "big", "val": at_limit}));
    assert_eq!(ok.status, 201, "{}", ok.body);
    // Over the value limit but under the body limit: refused by the store's check.
    let over = "v".repeat(1024 * 1024 + 1);
    let reply = post_json(&server.url("/set"), &json!({"key": "big2", "val": over}));
    assert_error(&reply, 413, "payload_too_large");
    // Over the body limit: refused from the Content-Length alone.
    let huge = "v".repeat(3 * 1024 * 1024);
    let reply = post_json(&server.url("/set"), &json!({"key": "big3", "val": huge}));
    assert_error(&reply, 413, "payload_too_large");
    assert_eq!(
        get(&server.url("/get?key=big2")).json()["found"],
        json!(false)
    );
    assert_eq!(
        get(&server.url("/get?key=big3")).json()["found"],
        json!(false)
    );
    assert_witness(&server);
}

#[test]
fn value_over_the_limit_is_413_without_content_length() {
    let server = start(&["--max-value-bytes", "1000"]);
    original_witness(&server);
    // A chunked body far over the body limit (2 x 1000 + 64 KiB).
    let val = "v".repeat(200 * 1024);
    let body = json!({"key": "chunked", "val": val}).to_string();
    let mut raw = String::from(
        "POST /set HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in body.as_bytes().chunks(8192) {
        raw.push_str(&format!("{:x}\r\n", chunk.len()));
        raw.push_str(std::str::from_utf8(chunk).expect("ascii"));
        raw.push_str("\r\n");
    }
    raw.push_str("0\r\n\r\n");
    let answer = raw_exchange(server.addr(), raw.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // A small chunked body whose value is over the value limit.
    let body = json!({"key": "chunked", "val": "v".repeat(1001)}).to_string();
    let raw = format!(
        "POST /set HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(server.addr(), raw.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        get(&server.url("/get?key=chunked")).json()["found"],
        json!(false)
    );
    assert_witness(&server);
}

#[test]
fn wrong_content_type_is_415() {
    let server = start(&[]);
    let body = Some(&br#"{"key": "a", "val": "x"}"#[..]);
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let reply = request("POST", &server.url("/set"), ct, body);
        assert_error(&reply, 415, "unsupported_media_type");
        let reply = request("DELETE", &server.url("/rm"), ct, Some(br#"{"key": "a"}"#));
        assert_error(&reply, 415, "unsupported_media_type");
    }
    assert_eq!(get(&server.url("/get?key=a")).json()["found"], json!(false));
}

#[test]
fn content_types_that_are_not_media_types_are_400() {
    let server = start(&[]);
    original_witness(&server);
    for content_type in ["__main__", "text/", "text/plain; charset"] {
        let reply = request(
            "PUT",
            &server.url("/v1/kv/typed"),
            Some(content_type),
            Some(b"v"),
        );
        assert_error(&reply, 400, "bad_request");
    }
    for content_type in ["x", "", "text/plain\u{b}", "tëxt/plain"] {
        let txn = json!({"success": [{"put": {"key": "typed", "value": "v",
            "content_type": content_type}}]});
        assert_error(&post_json(&server.url("/v1/txn"), &txn), 400, "bad_request");
    }
    assert_eq!(get(&server.url("/v1/kv/typed")).status, 404);
    let typed = "text/plain; charset=\"utf-8\"";
    let put = request("PUT", &server.url("/v1/kv/typed"), Some(typed), Some(b"v"));
    assert_eq!(put.status, 201, "{}", put.body);
    assert_eq!(
        get(&server.url("/v1/kv/typed")).content_type.as_deref(),
        Some(typed)
    );
    assert_witness(&server);
}

#[test]
fn unknown_routes_are_404() {
    let server = start(&[]);
    for (method, path) in [("GET", "/nope"), ("POST", "/v0/set"), ("GET", "/get/extra")] {
        let reply = request(method, &server.url(path), None, None);
        assert_error(&reply, 404, "not_found");
    }
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let server = start(&[]);
    for (method, path, allow) in [
        ("GET", "/set", "POST"),
        ("PUT", "/set", "POST"),
        ("POST", "/get", "GET"),
        ("DELETE", "/get", "GET"),
        ("GET", "/rm", "DELETE, POST"),
        ("PUT", "/rm", "DELETE, POST"),
        ("POST", "/", "GET"),
    ] {
        let reply = request(method, &server.url(path), None, None);
        assert_error(&reply, 405, "method_not_allowed");
        assert_eq!(reply.allow.as_deref(), Some(allow), "{method} {path}");
    }
}

#[test]
fn limits_are_configurable() {
    let server = start(&["--max-key-bytes", "4", "--max-value-bytes", "8"]);
    let ok = post_json(
        &server.url("/set"),
        &json!({"key": "abcd", "val": "12345678"}),
    );
    assert_eq!(ok.status, 201);
    let key = post_json(&server.url("/set"), &json!({"key": "abcde", "val": "x"}));
    assert_error(&key, 400, "invalid_key");
    let val = post_json(
        &server.url("/set"),
        &json!({"key": "a", "val": "123456789"}),
    );
    assert_error(&val, 413, "payload_too_large");
}
