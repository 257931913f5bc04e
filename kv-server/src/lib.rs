//! kv-store's HTTP server, as the `server` binary runs it and as a library
//! that starts it inside another program or a test.
//!
//! Writes go through one commit pipeline thread that batches them (group
//! commit), evaluates them against the store, persists them in the durable
//! log (or nowhere, in memory) and only then applies them; reads go
//! straight to the store's shards.
//!
//! # Embedding
//!
//! [`ServerBuilder`] starts a server on threads of its own and returns a
//! [`RunningServer`]: its address, and a graceful shutdown. Settings are a
//! [`Config`], the same as the binary's flags.
//!
//! ```
//! use kv_client::KvClient;
//! use kv_server::ServerBuilder;
//!
//! // In memory, on 127.0.0.1 and a free port.
//! let server = ServerBuilder::new().start()?;
//! let client = KvClient::new(&server.url().parse()?);
//! client.set("greeting", "hello")?;
//! assert_eq!(client.get("greeting")?.inserted_val.as_deref(), Some("hello"));
//! server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/embedded.rs` does the same with a data directory, and
//! `docs/embedding.md` covers every crate of the workspace.
//!
//! # Layout
//!
//! One folder per layer; a module uses the ones below it, never one above
//! (`ARCHITECTURE.md` at the top of the repository walks through them).
//! Only [`config`] and [`storage`] are public, with what the binary, the
//! benchmarks and embedding programs use:
//!
//! - `app`: assembles the server: the connections, the HTTP layer, the
//!   service; [`ServerBuilder`] starts it, [`RunningServer`] stops it.
//! - `http`: the actix layer: the route table, one file per route group,
//!   extractors, headers, the JSON error mapping, the connection gate, the
//!   OpenAPI document ([`openapi_document`]).
//! - `service`: `Service`, the operations the routes call, over the
//!   store, the commit pipeline and the feed; and the service while it
//!   loads.
//! - `cluster`: replicated mode: batches proposed to a JetStream stream,
//!   applied in log order by every replica; snapshots, consistent reads.
//! - `commit`: the commit pipeline (one writer), gathering, the writer's
//!   scheduling, expiry, the clock.
//! - `observe`: metrics and request tallies (no actix types).
//! - `auth`: bearer tokens and their rights on key prefixes (no actix
//!   types).
//! - [`storage`]: the data directory, the durable log, recovery,
//!   compaction, backup and restore.
//! - [`config`]: every setting, from flags and environment variables.
//! - `error`: `ServerError`, every error the server answers with.
#![deny(missing_docs)]

mod app;
mod auth;
mod cluster;
mod commit;
pub mod config;
mod error;
mod http;
mod observe;
mod service;
pub mod storage;

pub use app::{RunningServer, ServerBuilder, StartError};
pub use config::Config;
pub use http::openapi::openapi_document;
pub use storage::{FsyncPolicy, StorageError};
