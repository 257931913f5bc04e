//! Test harness for kv-store: starts the real `server` binary on
//! `127.0.0.1:0` in its own temporary directory, waits until it has printed
//! its address, and stops it when dropped; the same for `nats-server`, alone
//! or as a JetStream cluster, and `haproxy`. Plus a small HTTP helper that
//! returns any status as a value, and a linearizability checker.
//!
//! # Layout
//!
//! - [`server`]: [`TestServer`], a running server process.
//! - [`browser`]: [`Browser`], headless Chromium under chromedriver (WebDriver).
//! - [`http`]: [`http::request`], raw HTTP calls for tests.
//! - [`haproxy`]: [`Haproxy`], the shipped HAProxy configuration in front
//!   of a server.
//! - [`nats`]: [`NatsServer`], a real `nats-server` on a free port.
//! - [`nats_cluster`]: [`NatsCluster`], real `nats-server` nodes clustered
//!   with JetStream, to kill and restart.
//! - [`linearizability`]: [`linearizability::check`], whether a history of
//!   concurrent register operations is linearizable, and [`History`] to
//!   record one.
//! - [`rng`]: [`Lcg`], deterministic pseudo-randomness for workloads.
//! - [`tls`]: [`tls::TestCa`], a private CA and server certificate as PEM files.
//! - [`now_ms`]: the wall clock, for expiries.
#![deny(missing_docs)]

pub mod browser;
pub mod haproxy;
pub mod http;
pub mod linearizability;
pub mod nats;
pub mod nats_cluster;
pub mod rng;
pub mod server;
pub mod tls;

pub use browser::Browser;
pub use haproxy::Haproxy;
pub use linearizability::{CheckResult, History};
pub use nats::NatsServer;
pub use nats_cluster::NatsCluster;
pub use rng::Lcg;
pub use server::{cargo_bin, TestServer};

/// Milliseconds since the Unix epoch, now: for tests that set expiries.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
