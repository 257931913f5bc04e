//! The real `client` binary against a real `server` that requires tokens
//! or speaks TLS: `--token` and `KVSTORE_AUTH_TOKEN` are sent, 401 and 403
//! exit 8 with a message on stderr (and never the token), and
//! `--host https://…` works with `--cacert` for the test's own CA, while
//! without it the certificate is refused (exit 3).

mod common;

use std::io::Write;
use std::path::Path;

use common::{assert_exit, client, command, stderr, stdout};
use kv_testkit::tls::TestCa;
use kv_testkit::{cargo_bin, TestServer};

/// Exit code of a refused token (401) or right (403).
const EXIT_UNAUTHORIZED: i32 = 8;
/// Exit code when the server cannot be reached (TLS failures included).
const EXIT_UNREACHABLE: i32 = 3;

const ROOT: &str = "cli-root-token-0123456789";
const READER: &str = "cli-reader-token-0123456789";

/// A server with [`ROOT`] and a read-only [`READER`] from a token file.
fn server_with_tokens() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("tokens.json");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut f| {
            f.write_all(
                serde_json::json!({"tokens": [{"name": "reader", "token": READER, "read": [""]}]})
                    .to_string()
                    .as_bytes(),
            )
        })
        .expect("write the token file");
    let server = TestServer::start_with_env(
        cargo_bin("server"),
        &["--in-memory", "--auth-file", path.to_str().expect("UTF-8")],
        &[("KVSTORE_AUTH_TOKEN", ROOT)],
    );
    (server, dir)
}

/// What the client says to a 401 without a token: the flag to use.
const NO_TOKEN: &str = "the server requires a token: pass --token";
/// What the client says to a 401 with a token.
const WRONG_TOKEN: &str = "the server refused the token given with --token";
/// What the client says to a 403.
const NO_RIGHT: &str = "the token (--token) does not allow this";

/// Asserts exit 8 with a one-line message saying `what`, and no token.
fn assert_refused(output: &std::process::Output, what: &str) {
    assert_exit(output, EXIT_UNAUTHORIZED);
    let err = stderr(output);
    assert!(err.contains(what), "{what} not in: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("Authorization"), "HTTP, not the flag: {err}");
    assert!(!err.contains(ROOT) && !err.contains(READER), "{err}");
    assert_eq!(stdout(output), "");
}

#[test]
fn the_token_flag_and_environment_are_sent() {
    let (server, _dir) = server_with_tokens();
    let host = server.base_url();
    let set = client(&host, &["--token", ROOT, "set", "k", "v"]);
    assert_exit(&set, 0);
    assert_eq!(stdout(&set), "OK\n");
    let get = command(&host, &["get", "k"])
        .env("KVSTORE_AUTH_TOKEN", READER)
        .output()
        .expect("run client");
    assert_exit(&get, 0);
    assert_eq!(stdout(&get), "v\n");
    // The flag wins over the environment.
    let flag_wins = command(&host, &["--token", ROOT, "set", "k", "v2"])
        .env("KVSTORE_AUTH_TOKEN", READER)
        .output()
        .expect("run client");
    assert_exit(&flag_wins, 0);
    // Other commands too.
    let list = client(&host, &["--token", READER, "list"]);
    assert_exit(&list, 0);
    assert!(stdout(&list).contains('k'), "{}", stdout(&list));
}

#[test]
fn a_missing_or_wrong_token_exits_8() {
    let (server, _dir) = server_with_tokens();
    let host = server.base_url();
    assert_refused(&client(&host, &["get", "k"]), NO_TOKEN);
    assert_refused(
        &client(&host, &["--token", "wrong-token-0123456789", "get", "k"]),
        WRONG_TOKEN,
    );
    let wrong_env = command(&host, &["set", "k", "v"])
        .env("KVSTORE_AUTH_TOKEN", "wrong-token-0123456789")
        .output()
        .expect("run client");
    assert_refused(&wrong_env, WRONG_TOKEN);
}

#[test]
fn a_token_without_the_right_exits_8_with_a_message() {
    let (server, _dir) = server_with_tokens();
    let host = server.base_url();
    let set = client(&host, &["--token", READER, "set", "k", "v"]);
    assert_refused(&set, NO_RIGHT);
    assert!(stderr(&set).contains("no write right"), "{}", stderr(&set));
    assert_refused(&client(&host, &["--token", READER, "rm", "k"]), NO_RIGHT);
    // Nothing was written.
    let get = client(&host, &["--token", ROOT, "get", "k"]);
    assert_exit(&get, 1);
}

/// A TLS server and its CA (files in the returned directory).
fn tls_server(env: &[(&str, &str)]) -> (TestServer, TestCa, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca = TestCa::create(dir.path());
    let tls = ca.server_args();
    let mut args = vec!["--in-memory"];
    args.extend(tls.iter().map(String::as_str));
    let server = TestServer::start_with_env(cargo_bin("server"), &args, env);
    (server, ca, dir)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn https_with_the_cacert_works() {
    let (server, ca, _dir) = tls_server(&[]);
    let host = format!("https://127.0.0.1:{}", server.addr().port());
    let cacert = path(ca.ca_pem());
    let set = client(&host, &["--cacert", cacert, "set", "k", "over tls"]);
    assert_exit(&set, 0);
    assert_eq!(stdout(&set), "OK\n");
    let get = client(&host, &["--host", &host, "--cacert", cacert, "get", "k"]);
    assert_exit(&get, 0);
    assert_eq!(stdout(&get), "over tls\n");
    // By name, and with the CA from the environment.
    let by_name = command(
        &format!("https://localhost:{}", server.addr().port()),
        &["get", "k"],
    )
    .env("KVSTORE_CACERT", cacert)
    .output()
    .expect("run client");
    assert_exit(&by_name, 0);
    assert_eq!(stdout(&by_name), "over tls\n");
}

#[test]
fn https_without_the_cacert_is_refused_as_unreachable() {
    let (server, _ca, _dir) = tls_server(&[]);
    let host = format!("https://127.0.0.1:{}", server.addr().port());
    let get = client(&host, &["get", "k"]);
    assert_exit(&get, EXIT_UNREACHABLE);
    let err = stderr(&get).to_ascii_lowercase();
    assert!(
        err.contains("certificate") || err.contains("issuer"),
        "no word of the certificate: {err}"
    );
    // Trusting another CA is no better.
    let other_dir = tempfile::tempdir().expect("a temp dir");
    let other = TestCa::create(other_dir.path());
    let get = client(&host, &["--cacert", path(other.ca_pem()), "get", "k"]);
    assert_exit(&get, EXIT_UNREACHABLE);
    // Plain HTTP to the TLS port does not work either.
    let plain = client(
        &format!("http://127.0.0.1:{}", server.addr().port()),
        &["get", "k"],
    );
    assert!(
        plain.status.code() != Some(0) && plain.status.code() != Some(1),
        "plain HTTP to the TLS port: {plain:?}"
    );
}

#[test]
fn https_and_tokens_together() {
    let (server, ca, _dir) = tls_server(&[("KVSTORE_AUTH_TOKEN", ROOT)]);
    let host = format!("https://127.0.0.1:{}", server.addr().port());
    let cacert = path(ca.ca_pem());
    let refused = client(&host, &["--cacert", cacert, "set", "k", "v"]);
    assert_refused(&refused, NO_TOKEN);
    let set = client(
        &host,
        &["--cacert", cacert, "--token", ROOT, "set", "k", "v"],
    );
    assert_exit(&set, 0);
    let cacert_missing = client(&host, &["--cacert", "/nonexistent/ca.pem", "get", "k"]);
    assert_exit(&cacert_missing, 5);
    assert!(stderr(&cacert_missing).contains("/nonexistent/ca.pem"));
}
