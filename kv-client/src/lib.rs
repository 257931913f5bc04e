//! kv-store's client: a typed, blocking library on ureq, and the `client`
//! command line built on it.
//!
//! ```
//! use kv_client::KvClient;
//!
//! # let server = kv_server::ServerBuilder::new().start()?;
//! # let addr = server.url();
//! # /*
//! let addr = "127.0.0.1:8000";
//! # */
//! let client = KvClient::new(&addr.parse()?);
//! client.set("greeting", "hello")?;
//! assert_eq!(client.get("greeting")?.inserted_val.as_deref(), Some("hello"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! - [`client`]: [`KvClient`], one method per route (the bulk transfers,
//!   backup, export and import, streamed in `client/bulk.rs`).
//! - [`error`]: [`ClientError`], which separates an unreachable server from
//!   an error answer.
//! - [`watch`]: reading the watch stream (Server-Sent Events).
//!
//! The `client` binary's own modules are public for the binary only and
//! hidden from these docs (not a stable API): `cli`, the command-line
//! options (the only file that uses structopt); `cmd`, one file per
//! subcommand; `exit`, the exit codes; `human`, numbers as people read
//! them; `bench`, `client bench` with its own HTTP transport.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bench;
#[doc(hidden)]
pub mod cli;
pub mod client;
#[doc(hidden)]
pub mod cmd;
pub mod error;
#[doc(hidden)]
pub mod exit;
#[doc(hidden)]
pub mod human;
pub mod watch;

pub use client::{ClientOptions, Download, KvClient};
pub use error::{ClientError, Result};
pub use watch::{WatchItem, WatchParams, WatchStream};
