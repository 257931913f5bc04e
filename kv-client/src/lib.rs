//! kv-store's client: a typed, blocking library on ureq, and the `client`
//! command line built on it.
//!
//! ```no_run
//! use kv_client::KvClient;
//!
//! let client = KvClient::new(&"127.0.0.1:8000".parse()?);
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
//! - [`cli`]: the command-line options (the only file that uses structopt).
//! - [`cmd`]: runs a parsed command line and prints its result, one file
//!   per subcommand.
//! - [`exit`]: exit codes, and which failure gets which.
//! - [`human`]: numbers as people read them (`1,234 keys`, `46,305/s`).
//! - [`bench`](mod@bench): `client bench`, the load generator and its report
//!   (with its own HTTP transport, there for measured speed).
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod error;
pub mod exit;
pub mod human;
pub mod watch;

pub use client::{ClientOptions, KvClient};
pub use error::{ClientError, Result};
