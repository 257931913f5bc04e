//! Test harness for kv-store: starts the real `server` binary on
//! `127.0.0.1:0` in its own temporary directory, waits until it has printed
//! its address, and stops it when dropped; the same for `nats-server`. Plus
//! a small HTTP helper that returns any status as a value.
//!
//! # Layout
//!
//! - [`server`]: [`TestServer`], a running server process.
//! - [`http`]: [`http::request`], raw HTTP calls for tests.
//! - [`nats`]: [`NatsServer`], a real `nats-server` on a free port.
//! - [`rng`]: [`Lcg`], deterministic pseudo-randomness for workloads.
//! - [`tls`]: [`tls::TestCa`], a private CA and server certificate as PEM files.
#![deny(missing_docs)]

pub mod haproxy;
pub mod http;
pub mod nats;
pub mod rng;
pub mod server;
pub mod tls;

pub use haproxy::Haproxy;
pub use nats::NatsServer;
pub use rng::Lcg;
pub use server::{cargo_bin, TestServer};
