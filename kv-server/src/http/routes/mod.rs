//! The handlers, one file per route group: parse, call the
//! [`Service`](crate::service::Service), answer.
//!
//! - [`basic`]: the original routes, `/set`, `/get`, `/rm`.
//! - [`bulk`]: `GET /v1/export` and `POST /v1/import`, bulk loads in NDJSON.
//! - [`ops`]: `/`, the probes, `/metrics`, `/v1/snapshot`, `/v1/status`,
//!   unknown routes.
//! - [`kv`]: `/v1/kv/{key}`, raw values with metadata and conditions.
//! - [`list`]: `/v1/kv?prefix=`, listing and deleting by prefix.
//! - [`txn`]: `POST /v1/txn`, transactions.
//! - [`watch`]: `GET /v1/watch`, the change feed as Server-Sent Events.
//! - [`ui`]: `GET /ui`, the web console's page and files.

pub mod basic;
pub mod bulk;
pub mod kv;
pub mod list;
pub mod ops;
pub mod txn;
pub mod ui;
pub mod watch;

/// What `consistent=true` does, as the reads document it.
pub const CONSISTENT: &str = "true: in replicated mode, answer only once this server has \
    applied every write committed before the request (a linearizable read; 503 \
    cluster_unavailable if that cannot be done within --cluster-timeout-ms). A single \
    node's reads always are";
