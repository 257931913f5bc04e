//! Bearer-token authentication and prefix rights, end to end: 401 without
//! or with a wrong token (with `WWW-Authenticate`), 403 outside a token's
//! rights on every route that touches keys (get, set, rm, `/v1/kv/{key}`,
//! list, delete-prefix, txn, watch, snapshot), the open probes, `/metrics`
//! for any valid token, and no token ever written to the server's log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kv_client::watch::{WatchItem, WatchStream};
use kv_core::api::key_path;
use kv_testkit::http::{raw_exchange, Answer};
use kv_testkit::TestServer;
use serde_json::{json, Value};

use crate::{post_json_as, send_as, start_with_env};

/// The full-access token (`KVSTORE_AUTH_TOKEN`).
pub const ROOT: &str = "root-token-5f1c0a9e7b3d";
/// Reads every key; writes and watches nothing.
const READER: &str = "reader-token-8e2d4c6a0b1f";
/// Reads, writes and watches `app/` only.
const APP: &str = "app-token-3a7c9e1b5d2f4";
/// Watches `app/` but may not read it.
const WATCH_ONLY: &str = "watch-only-token-6b8d0f2a4c";
/// Reads `app/` but may not watch it.
const READ_NO_WATCH: &str = "read-no-watch-token-1d3f5b7";
/// No rights at all: only `/metrics`.
const NOTHING: &str = "no-rights-token-9c1e3a5f7b";
/// The backup right alone: `/v1/snapshot`.
const BACKUP: &str = "backup-token-2e4a6c8f0b1d";
/// Every token this module configures, for the log check.
const ALL_TOKENS: [&str; 7] = [
    ROOT,
    READER,
    APP,
    WATCH_ONLY,
    READ_NO_WATCH,
    NOTHING,
    BACKUP,
];

/// How long a watch may take to deliver what the test waits for.
const WATCH_DEADLINE: Duration = Duration::from_secs(30);

/// Writes `text` as a token file readable by its owner only (mode 0600).
pub fn write_token_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("tokens.json");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .expect("write the token file");
    path
}

fn token_file_text() -> String {
    json!({"tokens": [
        {"name": "reader", "token": READER, "read": [""]},
        {"name": "app", "token": APP, "read": ["app/"], "write": ["app/"], "watch": ["app/"]},
        {"name": "watch-only", "token": WATCH_ONLY, "watch": ["app/"]},
        {"name": "read-no-watch", "token": READ_NO_WATCH, "read": ["app/"]},
        {"name": "nothing", "token": NOTHING},
        {"name": "backup", "token": BACKUP, "backup": true},
    ]})
    .to_string()
}

/// A server with [`ROOT`] in the environment and the module's token file,
/// logging at `rust_log`. The token file's directory is returned to keep.
fn start_with_tokens(rust_log: &str) -> (TestServer, tempfile::TempDir) {
    start_with_tokens_and(rust_log, &[])
}

/// Like [`start_with_tokens`], with more flags.
fn start_with_tokens_and(rust_log: &str, args: &[&str]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = write_token_file(dir.path(), &token_file_text());
    let file = file.to_str().expect("a UTF-8 path");
    let mut all = vec!["--auth-file", file];
    all.extend_from_slice(args);
    let server = start_with_env(
        &all,
        &[("KVSTORE_AUTH_TOKEN", ROOT), ("RUST_LOG", rust_log)],
    );
    (server, dir)
}

/// Asserts the status and the JSON error code.
fn assert_error(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(answer.json()["error"]["code"], json!(code), "{what}");
}

fn assert_forbidden(answer: &Answer, what: &str) {
    assert_error(answer, 403, "forbidden", what);
}

fn assert_status(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
}

/// `POST /set` as `token`.
fn set(server: &TestServer, token: &str, key: &str, val: &str) -> Answer {
    post_json_as(
        server,
        Some(token),
        "/set",
        &json!({"key": key, "val": val}),
    )
}

/// The value of `key` as the root token sees it.
fn value(server: &TestServer, key: &str) -> Option<String> {
    let answer = send_as(server, Some(ROOT), "GET", &format!("/get?key={key}"), None);
    assert_status(&answer, 200, "root get");
    answer.json()["inserted_val"].as_str().map(str::to_owned)
}

/// Every route that reads or changes keys, with a valid request body.
fn key_routes() -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", "/get?key=app/a".into(), None),
        (
            "POST",
            "/set".into(),
            Some(json!({"key": "app/a", "val": "x"})),
        ),
        ("DELETE", "/rm".into(), Some(json!({"key": "app/a"}))),
        ("POST", "/rm".into(), Some(json!({"key": "app/a"}))),
        ("GET", key_path("app/a"), None),
        ("PUT", key_path("app/a"), None),
        ("DELETE", key_path("app/a"), None),
        ("GET", "/v1/kv?prefix=app/".into(), None),
        ("DELETE", "/v1/kv?prefix=app/".into(), None),
        (
            "POST",
            "/v1/txn".into(),
            Some(json!({"success": [{"put": {"key": "app/a", "value": "x"}}]})),
        ),
        ("GET", "/v1/watch?prefix=app/".into(), None),
        ("GET", "/v1/snapshot".into(), None),
        ("GET", "/metrics".into(), None),
    ]
}

/// Sends `method path` with a raw `Authorization` value (or none).
fn send_with_authorization(
    server: &TestServer,
    authorization: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let mut headers = Vec::new();
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    let text = body.map(Value::to_string);
    let body = match (method, &text) {
        (_, Some(text)) => {
            headers.push(("content-type", "application/json"));
            Some(text.as_bytes())
        }
        ("PUT", None) => Some(&b"raw value"[..]),
        _ => None,
    };
    kv_testkit::http::send_with(
        &kv_testkit::http::agent(),
        method,
        &server.url(path),
        &headers,
        body,
    )
}

#[test]
fn requests_without_a_valid_token_are_401_with_www_authenticate() {
    let (server, _dir) = start_with_tokens("warn");
    assert_status(&set(&server, ROOT, "app/a", "before"), 201, "root set");
    let wrong_root = format!("{}x", ROOT);
    let short_root = &ROOT[..ROOT.len() - 1];
    let authorizations: Vec<Option<String>> = vec![
        None,
        Some("Bearer wrong-token-0123456789abc".into()),
        // The right token, but not as a bearer token.
        Some(ROOT.into()),
        Some(format!("Basic {ROOT}")),
        Some(format!("Token {ROOT}")),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        // One byte more, one byte less than a real token.
        Some(format!("Bearer {wrong_root}")),
        Some(format!("Bearer {short_root}")),
    ];
    for (method, path, body) in key_routes() {
        for authorization in &authorizations {
            let what = format!("{method} {path} with Authorization {authorization:?}");
            let answer = send_with_authorization(
                &server,
                authorization.as_deref(),
                method,
                &path,
                body.as_ref(),
            );
            assert_error(&answer, 401, "unauthorized", &what);
            assert_eq!(
                answer.header("www-authenticate"),
                Some("Bearer realm=\"kv-store\""),
                "{what}"
            );
            assert!(
                !answer.text().contains(ROOT),
                "{what}: the answer repeats the token: {}",
                answer.text()
            );
        }
    }
    // Nothing was changed by any of them.
    assert_eq!(value(&server, "app/a").as_deref(), Some("before"));
    // The scheme is case-insensitive, and the real token works.
    let lower = send_with_authorization(
        &server,
        Some(&format!("bearer {ROOT}")),
        "GET",
        "/get?key=app/a",
        None,
    );
    assert_status(&lower, 200, "lower-case scheme");
}

#[test]
fn an_unauthenticated_body_is_refused_before_it_is_read() {
    let (server, _dir) = start_with_tokens("warn");
    // A declared 100 MB body, never sent: without a token the answer is
    // 401 at once, not 413 (the body limit) and not a wait for the body.
    let raw = "POST /set HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
               Content-Length: 100000000\r\nConnection: close\r\n\r\n{\"key\":";
    let began = Instant::now();
    let answer = raw_exchange(server.addr(), raw.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("unauthorized"), "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "took {:?}",
        began.elapsed()
    );
}

#[test]
fn a_read_only_token_reads_everything_and_writes_nothing() {
    let (server, _dir) = start_with_tokens("warn");
    assert_status(&set(&server, ROOT, "app/a", "v1"), 201, "root set");
    assert_status(&set(&server, ROOT, "other", "v2"), 201, "root set");
    let r = Some(READER);
    // Reads: allowed everywhere.
    let get = send_as(&server, r, "GET", "/get?key=other", None);
    assert_status(&get, 200, "reader get");
    assert_eq!(get.json()["inserted_val"], json!("v2"));
    assert_status(
        &send_as(&server, r, "GET", &key_path("app/a"), None),
        200,
        "reader GET /v1/kv",
    );
    let list = send_as(&server, r, "GET", "/v1/kv", None);
    assert_status(&list, 200, "reader list all");
    assert_eq!(list.json()["entries"].as_array().map(Vec::len), Some(2));
    // A backup is an operator's act, not a reader's.
    assert_forbidden(
        &send_as(&server, r, "GET", "/v1/snapshot", None),
        "reader snapshot",
    );
    let read_txn = post_json_as(
        &server,
        r,
        "/v1/txn",
        &json!({"compare": [{"key": "other", "target": "exists", "value": true}],
                "success": [{"get": {"key": "other"}}]}),
    );
    assert_status(&read_txn, 200, "reader read-only txn");
    // Writes: refused everywhere.
    assert_forbidden(&set(&server, READER, "other", "x"), "reader set");
    assert_forbidden(
        &post_json_as(&server, r, "/rm", &json!({"key": "other"})),
        "reader POST /rm",
    );
    let rm = json!({"key": "other"}).to_string();
    assert_forbidden(
        &send_as(
            &server,
            r,
            "DELETE",
            "/rm",
            Some(("application/json", rm.as_bytes())),
        ),
        "reader DELETE /rm",
    );
    assert_forbidden(&put_as(&server, r, &key_path("other"), b"x"), "reader PUT");
    assert_forbidden(
        &send_as(&server, r, "DELETE", &key_path("other"), None),
        "reader DELETE /v1/kv",
    );
    assert_forbidden(
        &send_as(&server, r, "DELETE", "/v1/kv?prefix=o", None),
        "reader delete-prefix",
    );
    assert_forbidden(
        &send_as(&server, r, "DELETE", "/v1/kv?all=true", None),
        "reader delete all",
    );
    assert_forbidden(
        &post_json_as(
            &server,
            r,
            "/v1/txn",
            &json!({"success": [{"put": {"key": "other", "value": "x"}}]}),
        ),
        "reader txn put",
    );
    // No watch right.
    assert_forbidden(
        &send_as(&server, r, "GET", "/v1/watch", None),
        "reader watch",
    );
    let forbidden = set(&server, READER, "other", "x");
    let message = forbidden.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("reader") && message.contains("write"),
        "the message names the token and the right: {message}"
    );
    assert!(!message.contains(READER), "{message}");
    assert_eq!(value(&server, "other").as_deref(), Some("v2"));
    assert_eq!(value(&server, "app/a").as_deref(), Some("v1"));
}

#[test]
fn prefix_rights_on_the_basic_and_key_routes() {
    let (server, _dir) = start_with_tokens("warn");
    assert_status(&set(&server, ROOT, "other", "root's"), 201, "root set");
    let a = Some(APP);
    // The original routes.
    assert_status(&set(&server, APP, "app/x", "1"), 201, "app set inside");
    assert_forbidden(&set(&server, APP, "other", "x"), "app set outside");
    assert_forbidden(
        &set(&server, APP, "app", "x"),
        "app set on the prefix without its slash",
    );
    assert_forbidden(&set(&server, APP, "ap", "x"), "app set on a shorter prefix");
    let get = send_as(&server, a, "GET", "/get?key=app/x", None);
    assert_status(&get, 200, "app get inside");
    assert_eq!(get.json()["inserted_val"], json!("1"));
    assert_forbidden(
        &send_as(&server, a, "GET", "/get?key=other", None),
        "app get outside",
    );
    assert_forbidden(
        &send_as(&server, a, "GET", "/get?key=missing", None),
        "app get of a missing key outside",
    );
    assert_forbidden(
        &post_json_as(&server, a, "/rm", &json!({"key": "other"})),
        "app POST /rm outside",
    );
    let outside = json!({"key": "other"}).to_string();
    assert_forbidden(
        &send_as(
            &server,
            a,
            "DELETE",
            "/rm",
            Some(("application/json", outside.as_bytes())),
        ),
        "app DELETE /rm outside",
    );
    // /v1/kv/{key}.
    let put = put_as(&server, a, &key_path("app/y"), b"2");
    assert_status(&put, 201, "app PUT inside");
    let got = send_as(&server, a, "GET", &key_path("app/y"), None);
    assert_status(&got, 200, "app GET inside");
    assert_eq!(got.body, b"2");
    // A key with characters that need encoding, still inside the prefix.
    let odd = "app/with space/%2F";
    assert_status(
        &put_as(&server, a, &key_path(odd), b"3"),
        201,
        "app PUT of an encoded key inside",
    );
    assert_forbidden(
        &put_as(&server, a, &key_path("other"), b"x"),
        "app PUT outside",
    );
    assert_forbidden(
        &put_as(&server, a, &key_path("appx/y"), b"x"),
        "app PUT beside the prefix",
    );
    assert_forbidden(
        &send_as(&server, a, "GET", &key_path("other"), None),
        "app GET outside",
    );
    assert_forbidden(
        &send_as(&server, a, "DELETE", &key_path("other"), None),
        "app DELETE outside",
    );
    assert_status(
        &send_as(&server, a, "DELETE", &key_path("app/y"), None),
        200,
        "app DELETE inside",
    );
    assert_status(
        &post_json_as(&server, a, "/rm", &json!({"key": "app/x"})),
        200,
        "app POST /rm inside",
    );
    let inside = json!({"key": odd}).to_string();
    assert_status(
        &send_as(
            &server,
            a,
            "DELETE",
            "/rm",
            Some(("application/json", inside.as_bytes())),
        ),
        200,
        "app DELETE /rm inside",
    );
    // No snapshot: it needs read on every key.
    assert_forbidden(
        &send_as(&server, a, "GET", "/v1/snapshot", None),
        "app snapshot",
    );
    assert_eq!(value(&server, "other").as_deref(), Some("root's"));
    assert_eq!(value(&server, "app").as_deref(), None);
    assert_eq!(value(&server, "appx/y").as_deref(), None);
}

#[test]
fn prefix_rights_on_list_and_delete_prefix() {
    let (server, _dir) = start_with_tokens("warn");
    for key in ["app/1", "app/2", "app/sub/3", "apple", "other"] {
        assert_status(&set(&server, ROOT, key, "v"), 201, "root set");
    }
    let a = Some(APP);
    let listed = |path: &str| -> Vec<String> {
        let answer = send_as(&server, a, "GET", path, None);
        assert_status(&answer, 200, path);
        answer.json()["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["key"].as_str().expect("a key").to_owned())
            .collect()
    };
    assert_eq!(
        listed("/v1/kv?prefix=app/"),
        ["app/1", "app/2", "app/sub/3"]
    );
    assert_eq!(listed("/v1/kv?prefix=app/sub/"), ["app/sub/3"]);
    // A page that starts after a key outside the prefix stays inside it.
    assert_eq!(
        listed("/v1/kv?prefix=app/&start_after=apple"),
        Vec::<String>::new()
    );
    assert_eq!(
        listed("/v1/kv?prefix=app/&start_after=a"),
        ["app/1", "app/2", "app/sub/3"]
    );
    for path in [
        "/v1/kv",
        "/v1/kv?prefix=",
        "/v1/kv?prefix=app",
        "/v1/kv?prefix=ap",
        "/v1/kv?prefix=other",
        "/v1/kv?prefix=apple",
    ] {
        assert_forbidden(
            &send_as(&server, a, "GET", path, None),
            &format!("app list {path}"),
        );
    }
    for path in [
        "/v1/kv?prefix=app",
        "/v1/kv?prefix=other",
        "/v1/kv?all=true",
        "/v1/kv?prefix=&all=true",
    ] {
        assert_forbidden(
            &send_as(&server, a, "DELETE", path, None),
            &format!("app delete-prefix {path}"),
        );
    }
    let deleted = send_as(&server, a, "DELETE", "/v1/kv?prefix=app/sub/", None);
    assert_status(&deleted, 200, "app delete-prefix inside");
    assert_eq!(deleted.json()["deleted"], json!(1), "{}", deleted.text());
    // The root token sees what is left: everything outside app/sub/.
    let all = send_as(&server, Some(ROOT), "GET", "/v1/kv?keys_only=true", None);
    let keys: Vec<String> = all.json()["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["key"].as_str().expect("a key").to_owned())
        .collect();
    assert_eq!(keys, ["app/1", "app/2", "apple", "other"]);
}

#[test]
fn prefix_rights_on_transactions() {
    let (server, _dir) = start_with_tokens("warn");
    assert_status(&set(&server, ROOT, "other", "root's"), 201, "root set");
    let a = Some(APP);
    let txn = |body: Value| post_json_as(&server, a, "/v1/txn", &body);
    // A comparison outside the read rights.
    assert_forbidden(
        &txn(
            json!({"compare": [{"key": "other", "target": "exists", "value": true}],
                    "success": [{"put": {"key": "app/t", "value": "1"}}]}),
        ),
        "compare outside",
    );
    // A put outside the write rights, in the branch that would not run.
    assert_forbidden(
        &txn(
            json!({"compare": [{"key": "app/t", "target": "exists", "value": false}],
                    "success": [{"put": {"key": "app/t", "value": "1"}}],
                    "failure": [{"put": {"key": "other", "value": "stolen"}}]}),
        ),
        "put outside in the failure branch",
    );
    assert_forbidden(
        &txn(json!({"success": [{"delete": {"key": "other"}}]})),
        "delete outside",
    );
    assert_forbidden(
        &txn(json!({"success": [{"get": {"key": "other"}}]})),
        "get outside",
    );
    // None of the refused transactions did anything.
    assert_eq!(value(&server, "app/t"), None);
    assert_eq!(value(&server, "other").as_deref(), Some("root's"));
    // Inside: committed.
    let ok = txn(
        json!({"compare": [{"key": "app/t", "target": "exists", "value": false}],
                        "success": [{"put": {"key": "app/t", "value": "1"}},
                                    {"get": {"key": "app/t"}}],
                        "failure": [{"delete": {"key": "app/t"}}]}),
    );
    assert_status(&ok, 200, "txn inside");
    assert_eq!(ok.json()["succeeded"], json!(true), "{}", ok.text());
    assert_eq!(value(&server, "app/t").as_deref(), Some("1"));
    // A token that may read but not write app/ may still run read-only
    // transactions there, and not writing ones.
    let reads = post_json_as(
        &server,
        Some(READ_NO_WATCH),
        "/v1/txn",
        &json!({"compare": [{"key": "app/t", "target": "value", "value": "1"}],
                "success": [{"get": {"key": "app/t"}}]}),
    );
    assert_status(&reads, 200, "read-only txn with read rights");
    assert_forbidden(
        &post_json_as(
            &server,
            Some(READ_NO_WATCH),
            "/v1/txn",
            &json!({"success": [{"put": {"key": "app/t", "value": "2"}}]}),
        ),
        "writing txn with read rights only",
    );
    assert_eq!(value(&server, "app/t").as_deref(), Some("1"));
}

/// `PUT /v1/kv/{key}` of a text value, at `path` (from `key_path`), as `token`.
fn put_as(server: &TestServer, token: Option<&str>, path: &str, value: &[u8]) -> Answer {
    send_as(server, token, "PUT", path, Some(("text/plain", value)))
}

/// Opens `GET /v1/watch?QUERY` as `token`: the stream, or status and body.
fn open_watch(server: &TestServer, token: &str, query: &str) -> Result<WatchStream, (u16, String)> {
    let authorization = format!("Bearer {token}");
    crate::feed_support::open_watch(server, query, &[("authorization", &authorization)])
}

fn assert_watch_forbidden(server: &TestServer, token: &str, query: &str) {
    match open_watch(server, token, query) {
        Ok(_) => panic!("watch {query:?} was allowed"),
        Err((status, body)) => {
            assert_eq!(status, 403, "watch {query:?}: {body}");
            assert!(body.contains("forbidden"), "watch {query:?}: {body}");
        }
    }
}

#[test]
fn a_watch_needs_watch_and_read_rights_and_carries_only_its_prefix() {
    let (server, _dir) = start_with_tokens("warn");
    for query in [
        "",
        "prefix=",
        "prefix=other",
        "prefix=ap",
        "key=other",
        "key=app",
    ] {
        assert_watch_forbidden(&server, APP, query);
    }
    // Watch without read, and read without watch, are not enough.
    assert_watch_forbidden(&server, WATCH_ONLY, "prefix=app/");
    assert_watch_forbidden(&server, READ_NO_WATCH, "prefix=app/");
    assert_watch_forbidden(&server, NOTHING, "prefix=app/");
    // A key inside the prefix may be watched.
    assert!(open_watch(&server, APP, "key=app/one").is_ok());

    let stream = open_watch(&server, APP, "prefix=app/")
        .unwrap_or_else(|(status, body)| panic!("watch prefix=app/: {status} {body}"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut keys = Vec::new();
        for item in stream {
            match item {
                Ok(WatchItem::Event(event)) => {
                    let last = event.key == "app/end";
                    keys.push(event.key);
                    if last {
                        break;
                    }
                }
                Ok(WatchItem::Progress(_)) => {}
                other => {
                    keys.push(format!("unexpected: {other:?}"));
                    break;
                }
            }
        }
        let _ = tx.send(keys);
    });
    for key in [
        "other/1", "app/1", "apple", "other/2", "app/2", "app", "app/end",
    ] {
        assert_status(&set(&server, ROOT, key, "v"), 201, "root set");
    }
    let keys = rx
        .recv_timeout(WATCH_DEADLINE)
        .expect("the watch delivered app/end in time");
    assert_eq!(keys, ["app/1", "app/2", "app/end"]);
}

#[test]
fn snapshot_needs_the_backup_right() {
    let (server, _dir) = start_with_tokens("warn");
    assert_status(&set(&server, ROOT, "k", "v"), 201, "root set");
    // Before, reading every key was enough: the reader could take it.
    for token in [READER, APP, READ_NO_WATCH, WATCH_ONLY, NOTHING] {
        let answer = send_as(&server, Some(token), "GET", "/v1/snapshot", None);
        assert_forbidden(&answer, "snapshot without the backup right");
        assert!(answer.text().contains("backup"), "{}", answer.text());
    }
    for token in [ROOT, BACKUP] {
        let snapshot = send_as(&server, Some(token), "GET", "/v1/snapshot", None);
        assert_status(&snapshot, 200, "snapshot");
        assert!(!snapshot.body.is_empty());
    }
}

#[test]
fn probes_are_open_and_metrics_need_any_valid_token() {
    let (server, _dir) = start_with_tokens("warn");
    let healthz = send_as(&server, None, "GET", "/healthz", None);
    assert_status(&healthz, 200, "healthz");
    assert_eq!(healthz.json()["status"], json!("alive"));
    let readyz = send_as(&server, None, "GET", "/readyz", None);
    assert_status(&readyz, 200, "readyz");
    assert_eq!(readyz.json()["status"], json!("ready"));
    // A wrong token does not close the probes either.
    assert_status(
        &send_as(
            &server,
            Some("wrong-token-0123456789"),
            "GET",
            "/healthz",
            None,
        ),
        200,
        "healthz with a wrong token",
    );
    // `/` and the API description take no principal: they are open too.
    assert_status(&send_as(&server, None, "GET", "/", None), 200, "/");
    assert_status(
        &send_as(&server, None, "GET", "/openapi.json", None),
        200,
        "/openapi.json",
    );

    let metrics = send_as(&server, None, "GET", "/metrics", None);
    assert_error(&metrics, 401, "unauthorized", "/metrics without a token");
    assert_eq!(
        metrics.header("www-authenticate"),
        Some("Bearer realm=\"kv-store\"")
    );
    assert_error(
        &send_as(
            &server,
            Some("wrong-token-0123456789"),
            "GET",
            "/metrics",
            None,
        ),
        401,
        "unauthorized",
        "/metrics with a wrong token",
    );
    for token in ALL_TOKENS {
        let answer = send_as(&server, Some(token), "GET", "/metrics", None);
        assert_status(&answer, 200, "/metrics with a valid token");
        assert!(answer.text().contains("kvstore_http_requests_total"));
    }
}

#[test]
fn tokens_never_reach_the_log() {
    // Trace level and the access log: everything the server and its
    // libraries can log.
    let (mut server, _dir) = start_with_tokens_and("trace", &["--access-log"]);
    for token in ALL_TOKENS {
        let _ = set(&server, token, "app/k", "v");
        let _ = send_as(&server, Some(token), "GET", "/get?key=app/k", None);
        let _ = send_as(&server, Some(token), "GET", "/metrics", None);
    }
    let wrong = "wrong-token-never-configured-0123";
    let answer = send_as(&server, Some(wrong), "GET", "/get?key=app/k", None);
    assert_status(&answer, 401, "wrong token");
    assert!(!answer.text().contains(wrong), "{}", answer.text());
    let log = server.kill_and_stderr();
    // The log is on: every request has an access-log line.
    assert!(
        log.contains("/get?key=app/k"),
        "no access log at trace level:\n{log}"
    );
    for token in ALL_TOKENS.iter().chain([&wrong]) {
        assert!(
            !log.contains(token),
            "the log contains a token ({token}):\n{log}"
        );
    }
}

#[test]
fn a_bad_token_file_stops_the_server_without_showing_its_tokens() {
    let short = "short-secret-1";
    let dup = "duplicated-secret-0123456789";
    for (text, expect) in [
        (
            json!({"tokens": [{"name": "weak", "token": short}]}).to_string(),
            "shorter",
        ),
        (
            json!({"tokens": [{"name": "a", "token": dup}, {"name": "b", "token": dup}]})
                .to_string(),
            "same token",
        ),
        (
            json!({"tokens": [{"name": "a", "token": dup, "admin": true}]}).to_string(),
            "unknown field",
        ),
    ] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = write_token_file(dir.path(), &text);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--in-memory", "--auth-file"])
            .arg(&file)
            .current_dir(dir.path())
            .env_clear()
            .env("KVSTORE_SERVER_HOST", "127.0.0.1:0")
            .env("RUST_LOG", "debug")
            .output()
            .expect("run the server");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "started with {text}: {stderr}");
        assert!(stderr.contains(expect), "{expect:?} not in: {stderr}");
        assert!(!stderr.contains(short) && !stderr.contains(dup), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening"),
            "it listened"
        );
    }
}

/// Without a valid token, a wrong method on a protected route and an
/// unknown route are 401 like any request, so an anonymous caller cannot
/// map the routes (before, a wrong method answered 405 with an `Allow`
/// header first); with one, they are 405 and 404.
#[test]
fn authentication_comes_before_405_and_404() {
    let (server, _dir) = start_with_tokens("warn");
    for (method, path) in [
        ("PATCH", "/set"),
        ("PUT", "/get"),
        ("POST", "/v1/watch"),
        ("PATCH", "/v1/kv/k"),
        ("GET", "/no/such/route"),
    ] {
        let anonymous = send_as(&server, None, method, path, None);
        assert_error(&anonymous, 401, "unauthorized", &format!("{method} {path}"));
        assert_eq!(anonymous.header("allow"), None, "{method} {path}");
        let known = send_as(&server, Some(NOTHING), method, path, None);
        let expected = if path == "/no/such/route" { 404 } else { 405 };
        assert_status(&known, expected, &format!("{method} {path} with a token"));
    }
    // The open probes stay open, wrong method or not.
    assert_status(
        &send_as(&server, None, "POST", "/healthz", None),
        405,
        "POST /healthz",
    );
}
