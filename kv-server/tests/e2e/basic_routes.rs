//! The original routes and bodies, exactly as documented.

use kv_testkit::http::{get, post_json, request};
use serde_json::json;

use crate::start;

#[test]
fn health_says_up() {
    let server = start(&[]);
    let reply = get(&server.url("/"));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"up": true, "writable": true, "storage": "always"})
    );
    let memory = start(&["--in-memory"]);
    assert_eq!(get(&memory.url("/")).json()["storage"], json!("memory"));
}

#[test]
fn set_get_rm_round_trip_with_the_original_fields() {
    let server = start(&[]);
    let set = post_json(&server.url("/set"), &json!({"key": "abc", "val": "xyz"}));
    assert_eq!(set.status, 201);
    assert_eq!(set.content_type.as_deref(), Some("application/json"));
    let body = set.json();
    assert_eq!(body["inserted"], json!(true));
    assert_eq!(body["ejected_val"], json!(null));
    assert_eq!(body["rev"], json!(1));

    let replace = post_json(&server.url("/set"), &json!({"key": "abc", "val": "new"}));
    assert_eq!(replace.status, 201);
    assert_eq!(replace.json()["ejected_val"], json!("xyz"));
    assert_eq!(replace.json()["rev"], json!(2));

    let found = get(&server.url("/get?key=abc"));
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["found"], json!(true));
    assert_eq!(found.json()["inserted_val"], json!("new"));

    let rm = request(
        "DELETE",
        &server.url("/rm"),
        Some("application/json"),
        Some(br#"{"key": "abc"}"#),
    );
    assert_eq!(rm.status, 200);
    let body = rm.json();
    assert_eq!(
        (&body["found"], &body["removed"], &body["ejected_val"]),
        (&json!(true), &json!(true), &json!("new"))
    );

    let gone = get(&server.url("/get?key=abc"));
    assert_eq!(gone.status, 200);
    assert_eq!(gone.json(), json!({"found": false, "inserted_val": null}));
}

#[test]
fn rm_accepts_post_and_reports_a_missing_key() {
    let server = start(&[]);
    post_json(&server.url("/set"), &json!({"key": "k", "val": "v"}));
    let rm = post_json(&server.url("/rm"), &json!({"key": "k"}));
    assert_eq!(rm.status, 200);
    assert_eq!(rm.json()["ejected_val"], json!("v"));
    let again = post_json(&server.url("/rm"), &json!({"key": "k"}));
    assert_eq!(again.status, 200);
    let body = again.json();
    assert_eq!(
        (&body["found"], &body["removed"], &body["ejected_val"]),
        (&json!(false), &json!(false), &json!(null))
    );
}

#[test]
fn keys_with_any_utf8_round_trip_through_the_query_string() {
    let server = start(&[]);
    for key in ["a b/c", "100%", "ключ", "🔑&x=1", "a+b"] {
        let val = format!("value of {key}");
        let set = post_json(&server.url("/set"), &json!({"key": key, "val": val}));
        assert_eq!(set.status, 201, "{key:?}: {}", set.body);
        let encoded: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let reply = get(&server.url(&format!("/get?key={encoded}")));
        assert_eq!(reply.json()["inserted_val"], json!(val), "{key:?}");
    }
}

#[test]
fn empty_and_multibyte_values_are_kept_exactly() {
    let server = start(&[]);
    for val in ["", "line\nbreak \"quoted\" \\ tab\t", "日本語 ✓ \u{0}"] {
        let set = post_json(&server.url("/set"), &json!({"key": "v", "val": val}));
        assert_eq!(set.status, 201);
        assert_eq!(
            get(&server.url("/get?key=v")).json()["inserted_val"],
            json!(val)
        );
    }
}
