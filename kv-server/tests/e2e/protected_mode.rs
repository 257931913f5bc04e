//! Protected mode, as Redis has it: without any token the server refuses to
//! listen beyond loopback (non-zero exit, a message that says what to do),
//! unless the operator opts out with `--insecure-no-auth` or
//! `KVSTORE_INSECURE_NO_AUTH=true`; with a token it starts and every request
//! needs the token.
//!
//! The servers here bind `0.0.0.0:0` (or `[::]:0`) but every request goes to
//! `127.0.0.1`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kv_testkit::TestServer;
use serde_json::json;

use crate::auth::{write_token_file, ROOT};
use crate::{post_json_as, start_with_env};

/// How long a refusing server may take to exit.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// Runs the server with `args` and `env` (and nothing else in its
/// environment) and returns what it did, failing if it is still running
/// after [`EXIT_DEADLINE`] (it listens instead of refusing).
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let deadline = Instant::now() + EXIT_DEADLINE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("server output");
            panic!(
                "the server with {args:?} {env:?} kept running; stdout: {}\nstderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("server output")
}

/// Asserts the server refused to serve: exit code 1, nothing announced,
/// and a message naming both ways out.
fn assert_refused(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
    assert!(
        !stdout.contains("listening"),
        "{what}: it listened: {stdout}"
    );
    for needed in ["protected mode", "KVSTORE_AUTH_TOKEN", "--insecure-no-auth"] {
        assert!(
            stderr.contains(needed),
            "{what}: {needed:?} not in: {stderr}"
        );
    }
}

/// `http://127.0.0.1:PORT` for a server that announced `0.0.0.0:PORT`.
fn loopback_url(server: &TestServer, path: &str) -> String {
    assert!(
        server.addr().ip().is_unspecified(),
        "it should listen on every address: {}",
        server.addr()
    );
    format!("http://127.0.0.1:{}{path}", server.addr().port())
}

/// Writes and reads a key over `127.0.0.1` without a token.
fn assert_serves_without_a_token(server: &TestServer) {
    let set = kv_testkit::http::post_json(
        &loopback_url(server, "/set"),
        &json!({"key": "k", "val": "v"}),
    );
    assert_eq!(set.status, 201, "{}", set.body);
    let get = kv_testkit::http::get(&loopback_url(server, "/get?key=k"));
    assert_eq!(get.json()["inserted_val"], json!("v"));
}

#[test]
fn a_public_address_without_a_token_is_refused() {
    assert_refused(
        &run_to_exit(&["--in-memory", "--host", "0.0.0.0:0"], &[]),
        "--host 0.0.0.0:0",
    );
    // The original way of saying it, through the environment.
    assert_refused(
        &run_to_exit(&["--in-memory"], &[("KVSTORE_SERVER_HOST", "0.0.0.0:0")]),
        "KVSTORE_SERVER_HOST=0.0.0.0:0",
    );
    assert_refused(
        &run_to_exit(&["--in-memory", "--host", "http://0.0.0.0:0"], &[]),
        "--host http://0.0.0.0:0",
    );
    // An explicit "no" is not an opt-out.
    assert_refused(
        &run_to_exit(
            &["--in-memory", "--host", "0.0.0.0:0"],
            &[("KVSTORE_INSECURE_NO_AUTH", "false")],
        ),
        "KVSTORE_INSECURE_NO_AUTH=false",
    );
    // Nor is a token that is too short to count (it is refused outright).
    let short = run_to_exit(
        &["--in-memory", "--host", "0.0.0.0:0"],
        &[("KVSTORE_AUTH_TOKEN", "short")],
    );
    assert!(!short.status.success());
    assert!(!String::from_utf8_lossy(&short.stdout).contains("listening"));
}

#[test]
fn the_ipv6_any_address_is_refused_too() {
    if std::net::TcpListener::bind("[::]:0").is_err() {
        eprintln!("\n=== SKIPPED: no IPv6 on this machine ===\n");
        return;
    }
    assert_refused(
        &run_to_exit(&["--in-memory", "--host", "[::]:0"], &[]),
        "--host [::]:0",
    );
}

#[test]
fn an_unclear_opt_out_is_a_usage_error() {
    let output = run_to_exit(
        &["--in-memory", "--host", "0.0.0.0:0"],
        &[("KVSTORE_INSECURE_NO_AUTH", "maybe")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("KVSTORE_INSECURE_NO_AUTH"), "{stderr}");
}

#[test]
fn loopback_without_a_token_serves_openly() {
    let server = start_with_env(&["--in-memory"], &[]);
    assert!(server.addr().ip().is_loopback());
    let set = post_json_as(&server, None, "/set", &json!({"key": "k", "val": "v"}));
    assert_eq!(set.status, 201, "{}", set.text());
}

#[test]
fn insecure_no_auth_flag_serves_a_public_address_with_a_warning() {
    let mut server = start_with_env(
        &["--in-memory", "--host", "0.0.0.0:0", "--insecure-no-auth"],
        &[],
    );
    assert_serves_without_a_token(&server);
    let log = server.kill_and_stderr();
    assert!(log.contains("authentication is off"), "no warning: {log}");
}

#[test]
fn insecure_no_auth_environment_serves_a_public_address() {
    for value in ["true", "1"] {
        let mut server = start_with_env(
            &["--in-memory"],
            &[
                ("KVSTORE_SERVER_HOST", "0.0.0.0:0"),
                ("KVSTORE_INSECURE_NO_AUTH", value),
            ],
        );
        assert_serves_without_a_token(&server);
        let log = server.kill_and_stderr();
        assert!(log.contains("authentication is off"), "no warning: {log}");
    }
}

/// Sends `method path` to `127.0.0.1:PORT` of a server on `0.0.0.0`.
fn loopback_send(
    server: &TestServer,
    token: Option<&str>,
    method: &str,
    path: &str,
) -> kv_testkit::http::Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| vec![("authorization", b)])
        .unwrap_or_default();
    kv_testkit::http::send_with(
        &kv_testkit::http::agent(),
        method,
        &loopback_url(server, path),
        &headers,
        None,
    )
}

/// Asserts that a server on `0.0.0.0` needs `token` on `127.0.0.1`.
fn assert_needs_token(server: &TestServer, token: &str) {
    let without = loopback_send(server, None, "GET", "/get?key=k");
    assert_eq!(without.status, 401, "{}", without.text());
    let wrong = loopback_send(server, Some("wrong-token-0123456789"), "GET", "/get?key=k");
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let with = loopback_send(server, Some(token), "GET", "/get?key=k");
    assert_eq!(with.status, 200, "{}", with.text());
    // The probes stay open for load balancers.
    assert_eq!(loopback_send(server, None, "GET", "/healthz").status, 200);
}

#[test]
fn a_token_lets_it_serve_a_public_address_and_is_then_required() {
    let server = start_with_env(
        &["--in-memory", "--host", "0.0.0.0:0"],
        &[("KVSTORE_AUTH_TOKEN", ROOT)],
    );
    assert_needs_token(&server, ROOT);
    // The same with the flag instead of the environment.
    let server = start_with_env(
        &["--in-memory", "--host", "0.0.0.0:0", "--auth-token", ROOT],
        &[],
    );
    assert_needs_token(&server, ROOT);
}

#[test]
fn a_token_file_alone_lets_it_serve_a_public_address() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let token = "file-only-token-0123456789";
    let file = write_token_file(
        dir.path(),
        &json!({"tokens": [{"name": "ops", "token": token, "read": [""]}]}).to_string(),
    );
    let server = start_with_env(
        &["--in-memory", "--host", "0.0.0.0:0"],
        &[("KVSTORE_AUTH_FILE", file.to_str().expect("UTF-8 path"))],
    );
    assert_needs_token(&server, token);
}

/// An auth file that grants no token is an error at start, on any address:
/// it must never leave the server open while the operator believes it
/// protected (before, it started, and on `0.0.0.0` it served writes
/// without a token).
#[test]
fn a_token_file_with_no_token_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = write_token_file(dir.path(), r#"{"tokens":[]}"#);
    let file = file.to_str().expect("UTF-8 path");
    for host in ["0.0.0.0:0", "127.0.0.1:0"] {
        let output = run_to_exit(&["--in-memory", "--host", host, "--auth-file", file], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{host}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("listening"),
            "{host}: it listened"
        );
        assert!(
            stderr.contains("no token") && stderr.contains(file),
            "{host}: {stderr}"
        );
    }
}

/// A switch set to nothing (`KVSTORE_AUTH_TOKEN=` in an env file) is refused
/// rather than read as "off".
#[test]
fn an_empty_token_setting_is_refused_at_start() {
    let output = run_to_exit(
        &["--in-memory", "--host", "0.0.0.0:0"],
        &[("KVSTORE_AUTH_TOKEN", "")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("KVSTORE_AUTH_TOKEN") && stderr.contains("empty"),
        "{stderr}"
    );
}
