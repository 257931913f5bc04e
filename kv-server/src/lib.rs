//! kv-store's HTTP server.
//!
//! Writes go through one [`CommitPipeline`] thread that batches them (group
//! commit), evaluates them against the store, persists them through a
//! [`CommitLog`] (the durable log on disk, or nothing with `--in-memory`)
//! and only then applies them; reads go straight to the store's shards.
//!
//! # Layout
//!
//! One folder per layer; a module uses the ones below it, never one above
//! (`ARCHITECTURE.md` at the top of the repository walks through them):
//!
//! - [`app`]: assembles the server: the connections, the HTTP layer, the
//!   service; [`run`] serves a bound listener until shutdown.
//! - [`http`]: the actix layer: the route table, one file per route group,
//!   extractors, headers, the JSON error mapping, the connection gate, the
//!   OpenAPI document.
//! - [`service`]: [`Service`], the operations the routes call, over the
//!   store, the commit pipeline and the feed; and the service while it
//!   loads.
//! - [`cluster`]: replicated mode: batches proposed to a JetStream stream,
//!   applied in log order by every replica; snapshots, consistent reads.
//! - [`commit`]: the commit pipeline (one writer), gathering, the writer's
//!   scheduling, expiry, the clock.
//! - [`observe`]: metrics and request tallies (no actix types).
//! - [`auth`]: bearer tokens and their rights on key prefixes (no actix
//!   types).
//! - [`storage`]: the data directory, the durable log, recovery,
//!   compaction, backup and restore.
//! - [`config`]: every setting, from flags and environment variables.
//! - [`error`]: [`ServerError`], every error the server answers with.
#![deny(missing_docs)]

pub mod app;
pub mod auth;
pub mod cluster;
pub mod commit;
pub mod config;
pub mod error;
pub mod http;
pub mod observe;
pub mod service;
pub mod storage;

pub use app::run;
pub use commit::pipeline::CommitPipeline;
pub use config::Config;
pub use error::ServerError;
pub use service::Service;
pub use storage::commit_log::CommitLog;
