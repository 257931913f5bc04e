//! End-to-end tests: the real `server` binary on `127.0.0.1:0`, over HTTP.
//! One test binary, a module per area.

mod auth;
mod bad_input;
mod basic_routes;
mod bulk;
mod compaction;
mod concurrency;
mod crash;
mod disk_full;
mod durability;
mod embedded;
mod feed_support;
mod http_limits;
mod kv_v1;
mod lifecycle;
mod metrics;
mod nats_feed;
mod protected_mode;
#[cfg(target_os = "linux")]
mod scheduling;
mod tls;
mod ttl;
mod v1_list;
mod v1_support;
mod v1_txn;
mod watch;
mod watch_budget;
mod watch_fuzz;

use kv_testkit::http::Answer;
use kv_testkit::TestServer;

/// Starts the server built from this package with `args`.
pub fn start(args: &[&str]) -> TestServer {
    TestServer::start(env!("CARGO_BIN_EXE_server"), args)
}

/// Starts the server with `args` and extra environment variables.
pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with_env(env!("CARGO_BIN_EXE_server"), args, env)
}

/// The value of `key` through `GET /get`, or `None` when it is missing.
pub fn value(server: &TestServer, key: &str) -> Option<String> {
    let reply = kv_testkit::http::get(&server.url(&format!("/get?key={key}")));
    assert_eq!(reply.status, 200, "get {key}: {}", reply.body);
    reply.json()["inserted_val"].as_str().map(str::to_owned)
}

/// Asserts every `(key, value)` pair is present; `when` names the moment.
pub fn check_present(server: &TestServer, pairs: &[(String, String)], when: &str) {
    for (key, val) in pairs {
        assert_eq!(
            value(server, key).as_deref(),
            Some(val.as_str()),
            "{when}: {key} lost or changed"
        );
    }
}

/// Sends `method path` to `server` as the holder of `token` (`None`: no
/// `Authorization` header), with an optional `(content type, body)`.
pub fn send_as(
    server: &TestServer,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Answer {
    kv_testkit::http::send_as(&server.url(path), token, method, body)
}

/// `POST path` with a JSON body, as the holder of `token`.
pub fn post_json_as(
    server: &TestServer,
    token: Option<&str>,
    path: &str,
    body: &serde_json::Value,
) -> Answer {
    let text = body.to_string();
    send_as(
        server,
        token,
        "POST",
        path,
        Some(("application/json", text.as_bytes())),
    )
}
