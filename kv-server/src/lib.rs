//! kv-store's HTTP server.
//!
//! Writes go through one [`CommitPipeline`] thread that batches them (group
//! commit), evaluates them against the store, persists them through a
//! [`CommitLog`] (the durable log on disk, or nothing with `--in-memory`)
//! and only then applies them; reads go straight to the store's shards.
//!
//! # Layout
//!
//! - [`config`]: every setting, from flags and environment variables.
//! - [`server`]: [`run`], which serves a bound listener until shutdown.
//! - [`routes`]: the route table, one `configure` function for `run` and tests.
//! - [`handlers`]: thin HTTP handlers: parse, call [`AppState`], answer.
//! - [`startup`]: [`startup::Shared`] from the first connection, and the
//!   [`startup::Ready`] extractor that holds requests while the data loads.
//! - [`state`]: [`AppState`], the operations the handlers call.
//! - [`pipeline`]: the single writer thread and its queue.
//! - [`expiry`]: the scheduler that expires keys on time.
//! - [`commit_log`]: the seam where the durable log plugs into the pipeline.
//! - [`storage`]: the data directory, the durable log, recovery, compaction,
//!   backup and restore.
//! - [`metrics`]: `GET /metrics` and the middleware that counts requests.
//! - [`openapi`]: `GET /openapi.json`, generated from the handlers.
//! - [`api_schemas`]: the document's exact schemas of what the server reads,
//!   named in the handlers' annotations.
//! - [`conn_gate`]: every connection's gate: request heads checked before
//!   the HTTP layer sees them (JSON refusals), socket tuning for handlers.
//! - [`request_head`]: the rules a request head must meet.
//! - [`chunked_body`]: where a chunked request body ends.
//! - [`clock`]: the wall clock (kv-core reads none).
//! - [`tls`]: loading the certificate and key for HTTPS.
//! - [`kv_routes`]: `/v1/kv/{key}`, raw values with metadata and conditions.
//! - [`list_routes`]: `/v1/kv?prefix=`, listing and deleting by prefix.
//! - [`media_type`]: the content types a value may be stored with.
//! - [`txn_routes`]: `POST /v1/txn`, transactions.
//! - [`watch`]: `GET /v1/watch`, the change feed as Server-Sent Events.
//! - [`watch_outbox`]: what waits to be sent to one watcher, within byte
//!   budgets.
//! - [`body_stream`]: streamed response bodies fed by a blocking thread.
//! - [`auth`]: bearer tokens and their rights on key prefixes.
//! - [`error`]: [`ServerError`], the one place errors become HTTP statuses.
#![deny(missing_docs)]

pub mod api_schemas;
pub mod auth;
pub mod body_stream;
pub mod chunked_body;
pub mod clock;
pub mod commit_log;
pub mod config;
pub mod conn_gate;
pub mod error;
pub mod expiry;
pub mod gathering;
pub mod handlers;
pub mod kv_routes;
pub mod list_routes;
pub mod media_type;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod request_head;
pub mod request_stats;
pub mod routes;
pub mod scheduling;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod tls;
pub mod txn_routes;
pub mod watch;
pub mod watch_outbox;

pub use commit_log::CommitLog;
pub use config::Config;
pub use error::ServerError;
pub use pipeline::CommitPipeline;
pub use server::run;
pub use state::AppState;
