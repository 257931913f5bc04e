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
    let stderr = refuses_to_start(
        &["--shards", "3"],
        &[("KVSTORE_SERVER_HOST", "127.0.0.1:0")],
    );
    assert!(stderr.contains("power of two"), "{stderr}");
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
