//! End-to-end tests: the real `server` binary on `127.0.0.1:0`, over HTTP.
//! One test binary, a module per area.

mod bad_input;
mod compaction;
mod concurrency;
mod crash;
mod disk_full;
mod durability;
mod feed_support;
mod kv_v1;
mod lifecycle;
mod nats_feed;
mod seed_routes;
mod ttl;
mod v1_list_txn;
mod watch;

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
