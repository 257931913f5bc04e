//! Starting, configuring and stopping the real binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use kv_testkit::http::{get, post_json};
use serde_json::json;

use crate::{start, start_with_env};

/// Runs the server (in a temporary working directory) expecting it to
/// refuse to start; returns its stderr.
fn refuses_to_start(args: &[&str], env: &[(&str, &str)]) -> String {
    let workdir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .current_dir(workdir.path())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run server");
    assert!(
        !output.status.success(),
        "the server started with {args:?} {env:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn original_host_forms_are_accepted() {
    for host in ["http://127.0.0.1:0", "http://127.0.0.1:0/", "127.0.0.1:0"] {
        let server = start_with_env(&[], &[("KVSTORE_SERVER_HOST", host)]);
        assert_eq!(get(&server.url("/")).status, 200, "{host}");
    }
}

#[test]
fn flags_win_over_the_environment() {
    let server = start_with_env(
        &["--host", "127.0.0.1:0", "--max-key-bytes", "2"],
        &[
            ("KVSTORE_SERVER_HOST", "127.0.0.1:9"),
            ("KVSTORE_MAX_KEY_BYTES", "100"),
        ],
    );
    assert_ne!(server.addr().port(), 9);
    let reply = post_json(&server.url("/set"), &json!({"key": "abc", "val": "x"}));
    assert_eq!(reply.status, 400);
}

#[test]
fn environment_settings_apply() {
    let server = start_with_env(&[], &[("KVSTORE_MAX_KEY_BYTES", "2")]);
    let reply = post_json(&server.url("/set"), &json!({"key": "abc", "val": "x"}));
    assert_eq!(reply.status, 400);
}

#[test]
fn invalid_settings_are_refused_with_a_message() {
    let stderr = refuses_to_start(&["--host", "ftp://x:1"], &[]);
    assert!(stderr.contains("scheme"), "{stderr}");
    // Refused before binding: nothing was listened on.
    let stderr = refuses_to_start(
        &["--shards", "3"],
        &[("KVSTORE_SERVER_HOST", "127.0.0.1:0"), ("RUST_LOG", "info")],
    );
    assert!(
        stderr.contains("--shards") && stderr.contains("power of two"),
        "{stderr}"
    );
    assert!(!stderr.contains("accepting connections"), "{stderr}");
    let stderr = refuses_to_start(&["--max-batch", "0"], &[]);
    assert_eq!(stderr, "error: --max-batch must be at least 1\n");
}

#[test]
fn help_is_titled_as_the_server() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("run server --help");
    let help = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        help.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("kv-store server")),
        "{help}"
    );
    assert!(!help.contains("Maintenance commands of"), "{help}");
    assert!(
        help.contains("--config") && help.contains("--access-log"),
        "{help}"
    );
}

/// Writes `text` to a settings file in a new temporary directory.
fn settings_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kv-store.toml");
    std::fs::write(&path, text).expect("write the settings file");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    (dir, path)
}

/// The status of `POST /set` of `key` and `val`.
fn set_status(server: &kv_testkit::TestServer, key: &str, val: &str) -> u16 {
    post_json(&server.url("/set"), &json!({"key": key, "val": val})).status
}

#[test]
fn a_settings_file_applies_under_the_environment_and_the_flags() {
    let (_dir, path) = settings_file(
        "in-memory = true\nmax-key-bytes = 4\nmax-value-bytes = 4\nmax-txn-ops = 2\n",
    );
    let from_file = start(&["--config", &path]);
    assert_eq!(
        set_status(&from_file, "abcde", "x"),
        400,
        "max-key-bytes from the file"
    );
    assert_eq!(set_status(&from_file, "abc", "x"), 201);
    assert_eq!(get(&from_file.url("/")).json()["storage"], "memory");
    // The environment wins over the file, the flag over both.
    let overridden = start_with_env(
        &["--config", &path, "--max-key-bytes", "8"],
        &[
            ("KVSTORE_MAX_VALUE_BYTES", "8"),
            ("KVSTORE_MAX_KEY_BYTES", "2"),
        ],
    );
    assert_eq!(set_status(&overridden, "abcdefg", "12345678"), 201);
    assert_eq!(set_status(&overridden, "abc", "123456789"), 413);
    // KVSTORE_CONFIG names the file too.
    let by_env = start_with_env(&[], &[("KVSTORE_CONFIG", &path)]);
    assert_eq!(set_status(&by_env, "abcde", "x"), 400);
}

#[test]
fn a_bad_settings_file_is_refused_naming_it() {
    let (_dir, path) = settings_file("max_batch = 5\n");
    let stderr = refuses_to_start(&["--config", &path], &[]);
    assert!(
        stderr.contains(&path) && stderr.contains("unknown setting `max_batch`"),
        "{stderr}"
    );
    let (_dir, path) = settings_file("shards = 3\n");
    let stderr = refuses_to_start(&["--config", &path], &[]);
    assert!(stderr.contains("--shards"), "{stderr}");
    let stderr = refuses_to_start(&["--config", "/nonexistent/kv.toml"], &[]);
    assert!(
        stderr.contains("cannot read the settings file /nonexistent/kv.toml"),
        "{stderr}"
    );
}

#[test]
fn the_access_log_is_off_unless_asked_for() {
    for (args, logged) in [(&[][..], false), (&["--access-log"][..], true)] {
        let mut server = start_with_env(args, &[("RUST_LOG", "info")]);
        assert_eq!(get(&server.url("/get?key=probe")).status, 200);
        // Stopped gracefully, so that every line is written.
        server.signal("TERM");
        server.wait();
        let log = server.kill_and_stderr();
        assert!(
            log.contains("ready on http://"),
            "the start-up stays informative: {log}"
        );
        assert_eq!(
            log.contains("GET /get?key=probe"),
            logged,
            "{args:?}: {log}"
        );
    }
    let mut server = start_with_env(&[], &[("RUST_LOG", "info"), ("KVSTORE_ACCESS_LOG", "true")]);
    assert_eq!(get(&server.url("/get?key=by-env")).status, 200);
    server.signal("TERM");
    server.wait();
    assert!(server.kill_and_stderr().contains("GET /get?key=by-env"));
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let server = start(&[]);
    let addr = server.addr().to_string();
    let stderr = refuses_to_start(&["--host", &addr], &[]);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn sigterm_and_sigint_stop_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut server = start(&[]);
        assert_eq!(get(&server.url("/")).status, 200);
        server.signal(signal);
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "after SIG{signal}");
    }
}

#[test]
fn shutdown_finishes_in_flight_requests() {
    let mut server = start(&["--workers", "1"]);
    let body = json!({"key": "late", "val": "still answered"}).to_string();
    let (head, tail) = body.split_at(10);
    let mut in_flight = TcpStream::connect(server.addr()).expect("connect");
    in_flight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        in_flight,
        "POST /set HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .expect("send the first part");
    in_flight.flush().expect("flush");
    // The one worker answers this only after it has taken up the request above.
    assert_eq!(get(&server.url("/")).status, 200);
    server.signal("TERM");
    in_flight.write_all(tail.as_bytes()).expect("send the rest");
    let mut answer = String::new();
    in_flight
        .read_to_string(&mut answer)
        .expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains(r#""inserted":true"#), "{answer}");
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn the_example_settings_leave_nats_off() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example");
    let text = std::fs::read_to_string(example).expect("read .env.example");
    let active: Vec<&str> = text
        .lines()
        .filter(|line| line.trim_start().starts_with("KVSTORE_NATS"))
        .collect();
    assert!(active.is_empty(), "NATS is on in .env.example: {active:?}");
}

#[test]
fn a_failed_restore_says_why_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("restored");
    let target = target.to_str().expect("a UTF-8 path");
    let missing = "/nonexistent/backup.snap";
    let stderr = refuses_to_start(&["restore", "--from", missing, "--data-dir", target], &[]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    assert!(stderr.contains(missing), "{stderr}");
    let garbage = dir.path().join("garbage.snap");
    std::fs::write(&garbage, "not a backup").expect("write");
    let garbage = garbage.to_str().expect("a UTF-8 path");
    let stderr = refuses_to_start(&["restore", "--from", garbage, "--data-dir", target], &[]);
    assert!(
        stderr.contains("invalid backup") && !stderr.contains("--repair"),
        "{stderr}"
    );
}
