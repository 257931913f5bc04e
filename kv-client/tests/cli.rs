//! The real `client` binary against the real `server` binary.

mod common;

use common::{client, stderr, stdout};
use std::process::Command;

use kv_testkit::{cargo_bin, TestServer};

fn server() -> TestServer {
    TestServer::start(cargo_bin("server"), &[])
}

#[test]
fn set_get_rm_as_the_original_contract_runs_them() {
    let server = server();
    let host = server.base_url();
    let set = client(&host, &["set", "greeting", "hello world"]);
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    assert_eq!(stdout(&set), "OK\n");

    let get = client(&host, &["get", "greeting"]);
    assert_eq!(get.status.code(), Some(0));
    // One line in text (the default); the exact bytes with -o raw.
    assert_eq!(stdout(&get), "hello world\n");
    let raw = client(&host, &["-o", "raw", "get", "greeting"]);
    assert_eq!(stdout(&raw), "hello world");
    assert_eq!(stderr(&get), "");

    let rm = client(&host, &["rm", "greeting"]);
    assert_eq!(rm.status.code(), Some(0));
    assert_eq!(stdout(&rm), "OK\n");

    let gone = client(&host, &["get", "greeting"]);
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(stdout(&gone), "");
    assert_eq!(stderr(&gone), "key not found: greeting\n");

    let rm_again = client(&host, &["rm", "greeting"]);
    assert_eq!(rm_again.status.code(), Some(1));
    assert_eq!(stderr(&rm_again), "key not found: greeting\n");
}

#[test]
fn json_prints_the_server_answer() {
    let server = server();
    let host = server.base_url();
    let set = client(&host, &["set", "k", "v1", "--json"]);
    let body: serde_json::Value = serde_json::from_str(&stdout(&set)).expect("JSON");
    assert_eq!(body["inserted"], true);
    assert_eq!(body["ejected_val"], serde_json::Value::Null);
    let set = client(&host, &["--json", "set", "k", "v2"]);
    let body: serde_json::Value = serde_json::from_str(&stdout(&set)).expect("JSON");
    assert_eq!(body["ejected_val"], "v1");
    let get = client(&host, &["--json", "get", "k"]);
    let body: serde_json::Value = serde_json::from_str(&stdout(&get)).expect("JSON");
    assert_eq!(
        (&body["found"], &body["inserted_val"]),
        (&true.into(), &"v2".into())
    );
    let missing = client(&host, &["--json", "get", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let body: serde_json::Value = serde_json::from_str(&stdout(&missing)).expect("JSON");
    assert_eq!(body["found"], false);
}

#[test]
fn host_flag_and_address_forms() {
    let server = server();
    let plain = server.addr().to_string();
    // The flag wins over the environment (which points nowhere here).
    let set = client("127.0.0.1:9", &["--host", &plain, "set", "a", "1"]);
    assert_eq!(set.status.code(), Some(0), "{}", stderr(&set));
    let get = client(&format!("http://{plain}/"), &["get", "a"]);
    assert_eq!(stdout(&get), "1\n");
}

#[test]
fn a_server_that_is_down_gives_one_line_and_exit_3() {
    // Take a free port and let it go, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = client(&format!("127.0.0.1:{port}"), &["get", "k"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot reach the server"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn server_errors_give_one_line_and_exit_4() {
    let server = server();
    let out = client(&server.base_url(), &["get", ""]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        stderr(&out),
        "error: server answered 400 invalid_key: key must not be empty\n"
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let out = client("127.0.0.1:9", &["bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bogus"));
    let out = client("127.0.0.1:9", &["set", "only-key"]);
    assert_eq!(out.status.code(), Some(2));
    let out = client("127.0.0.1:9", &["--host", "ftp://x", "get", "k"]);
    assert_eq!(out.status.code(), Some(2));
    let help = client("127.0.0.1:9", &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("kv-store client"));
}

#[test]
fn backup_then_restore_gives_the_same_data() {
    let server = server();
    let host = server.base_url();
    for i in 0..50 {
        let out = client(
            &host,
            &["set", &format!("key-{i}"), &format!("value {i} ✓")],
        );
        assert_eq!(out.status.code(), Some(0));
    }
    client(&host, &["rm", "key-7"]);
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("backup.snap");
    let file_arg = file.to_str().expect("utf-8 path");
    let out = client(&host, &["backup", file_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("(revision 51)"), "{}", stdout(&out));
    assert!(!work.path().join("backup.snap.partial").exists());

    let restored = work.path().join("restored");
    let restore = |dir: &std::path::Path| {
        Command::new(cargo_bin("server"))
            .args(["restore", "--from", file_arg, "--data-dir"])
            .arg(dir)
            .env_clear()
            .output()
            .expect("run server restore")
    };
    let out = restore(&restored);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("restored 49 keys at revision 51"),
        "{}",
        stdout(&out)
    );
    // A second restore into the same, now non-empty, directory is refused.
    let again = restore(&restored);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));

    let copy = TestServer::start(
        cargo_bin("server"),
        &["--data-dir", restored.to_str().expect("utf-8 path")],
    );
    for i in [0, 8, 49] {
        let out = client(&copy.base_url(), &["get", &format!("key-{i}")]);
        assert_eq!(stdout(&out), format!("value {i} ✓\n"));
    }
    assert_eq!(
        client(&copy.base_url(), &["get", "key-7"]).status.code(),
        Some(1)
    );
    let next = client(&copy.base_url(), &["--json", "set", "new", "x"]);
    assert!(stdout(&next).contains("\"rev\":52"), "{}", stdout(&next));
}

#[test]
fn a_backup_that_cannot_be_written_exits_5_and_leaves_nothing() {
    let server = server();
    let out = client(
        &server.base_url(),
        &["backup", "/nonexistent-dir/backup.snap"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}
