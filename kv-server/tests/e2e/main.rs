//! End-to-end tests: the real `server` binary on `127.0.0.1:0`, over HTTP.
//! One test binary, a module per area.

mod bad_input;
mod compaction;
mod concurrency;
mod crash;
mod disk_full;
mod durability;
mod feed_support;
mod lifecycle;
mod nats_feed;
mod seed_routes;
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
