//! HTTPS with `--tls-cert` / `--tls-key`, using a CA and certificate the
//! test generates: clients that trust the CA are served (with and without a
//! token), clients that do not are refused by their TLS check, plain HTTP to
//! the TLS port gets no HTTP answer, and unusable certificate files stop the
//! server with a message naming them. `client` over HTTPS is tested in
//! `kv-client/tests/cli_auth.rs`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kv_testkit::http::{raw_exchange, send_with, Answer};
use kv_testkit::tls::TestCa;
use kv_testkit::TestServer;
use serde_json::json;

use crate::start_with_env;

/// An agent that trusts only the CA in `ca_pem`.
fn agent_trusting(ca_pem: &Path) -> ureq::Agent {
    let pem = std::fs::read(ca_pem).expect("read the CA");
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    assert_eq!(certs.len(), 1, "one CA certificate");
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                .build(),
        )
        .build()
        .into()
}

/// A TLS server with its CA (kept in the returned directory).
fn start_tls(extra: &[&str], env: &[(&str, &str)]) -> (TestServer, TestCa, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca = TestCa::create(dir.path());
    let tls = ca.server_args();
    let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let server = start_with_env(&args, env);
    (server, ca, dir)
}

fn send(
    agent: &ureq::Agent,
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    send_with(agent, method, &server.url(path), headers, body)
}

#[test]
fn serves_https_to_clients_that_trust_its_ca() {
    let (server, ca, _dir) = start_tls(&[], &[]);
    assert!(
        server.base_url().starts_with("https://127.0.0.1:"),
        "{}",
        server.base_url()
    );
    let agent = agent_trusting(ca.ca_pem());
    let health = send(&agent, &server, "GET", "/healthz", &[], None);
    assert_eq!(health.status, 200, "{}", health.text());
    let body = json!({"key": "secure", "val": "over tls"}).to_string();
    let set = send(
        &agent,
        &server,
        "POST",
        "/set",
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    assert_eq!(set.status, 201, "{}", set.text());
    let get = send(&agent, &server, "GET", "/get?key=secure", &[], None);
    assert_eq!(get.json()["inserted_val"], json!("over tls"));
    // The certificate names localhost too.
    let by_name = send_with(
        &agent,
        "GET",
        &format!("https://localhost:{}/readyz", server.addr().port()),
        &[],
        None,
    );
    assert_eq!(by_name.status, 200, "{}", by_name.text());
}

#[test]
fn clients_that_do_not_trust_the_ca_are_refused() {
    let (server, ca, _dir) = start_tls(&[], &[]);
    let other_dir = tempfile::tempdir().expect("a temp dir");
    let other_ca = TestCa::create(other_dir.path());
    for (what, agent) in [
        ("the public roots", kv_testkit::http::agent()),
        ("another CA", agent_trusting(other_ca.ca_pem())),
    ] {
        let result = agent.get(server.url("/healthz")).call();
        let error = match result {
            Ok(response) => panic!("trusting {what}: answered {}", response.status()),
            Err(e) => e.to_string(),
        };
        assert!(
            error.to_ascii_lowercase().contains("certificate")
                || error.to_ascii_lowercase().contains("issuer"),
            "trusting {what}: {error}"
        );
    }
    // The server is unharmed.
    let agent = agent_trusting(ca.ca_pem());
    assert_eq!(
        send(&agent, &server, "GET", "/healthz", &[], None).status,
        200
    );
}

#[test]
fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let (server, ca, _dir) = start_tls(&[], &[]);
    let answer = raw_exchange(
        server.addr(),
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(
        !answer.starts_with("HTTP/"),
        "plain HTTP was answered: {answer:?}"
    );
    // Nor does an HTTP client get anything from it.
    let plain = kv_testkit::http::agent()
        .get(format!("http://{}/healthz", server.addr()))
        .call();
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    let agent = agent_trusting(ca.ca_pem());
    assert_eq!(
        send(&agent, &server, "GET", "/healthz", &[], None).status,
        200
    );
}

#[test]
fn tls_and_tokens_together() {
    let token = "tls-token-0123456789abcdef";
    let (server, ca, _dir) = start_tls(&[], &[("KVSTORE_AUTH_TOKEN", token)]);
    let agent = agent_trusting(ca.ca_pem());
    let without = send(&agent, &server, "GET", "/get?key=k", &[], None);
    assert_eq!(without.status, 401, "{}", without.text());
    let bearer = format!("Bearer {token}");
    let with = send(
        &agent,
        &server,
        "GET",
        "/get?key=k",
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(with.status, 200, "{}", with.text());
}

/// Runs the server with `args` expecting it to refuse to start; returns
/// its stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--in-memory"])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("KVSTORE_SERVER_HOST", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the server");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} started: {stderr}");
    assert!(!stdout.contains("listening"), "{args:?}: {stdout}");
    stderr
}

#[test]
fn unusable_certificate_files_stop_the_server_with_a_message() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca = TestCa::create(dir.path());
    let other_dir = tempfile::tempdir().expect("a temp dir");
    let other = TestCa::create(other_dir.path());
    let cert = ca.cert_pem().to_str().expect("UTF-8");
    let key = ca.key_pem().to_str().expect("UTF-8");
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().expect("UTF-8");
    let stderr = refused(dir.path(), &["--tls-cert", missing, "--tls-key", key]);
    assert!(stderr.contains("missing.pem"), "{stderr}");
    // A key that is not the certificate's.
    let wrong_key = other.key_pem().to_str().expect("UTF-8");
    let stderr = refused(dir.path(), &["--tls-cert", cert, "--tls-key", wrong_key]);
    assert!(stderr.contains("do not work together"), "{stderr}");
    // The key where the certificate should be.
    let stderr = refused(dir.path(), &["--tls-cert", key, "--tls-key", key]);
    assert!(stderr.contains("certificate"), "{stderr}");
    // One without the other is a usage error.
    let stderr = refused(dir.path(), &["--tls-cert", cert]);
    assert!(stderr.contains("tls-key"), "{stderr}");
}
