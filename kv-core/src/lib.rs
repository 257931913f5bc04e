//! The storage core of kv-store: a sharded in-memory map with revisions.
//!
//! This crate does no I/O, reads no clock and knows nothing of HTTP, threads
//! or files: callers pass the time (`now`) to reads, listings and batches,
//! so that replicas evaluating the same commands at the same time agree.
//! The server wraps it in a commit pipeline (one writer) and serves reads
//! straight from it (many readers).
//!
//! # Layout
//!
//! - [`store`]: [`Store`], the cheap, cloneable read handle, and
//!   [`StoreWriter`] ([`store::writer`]), the single mutating handle that
//!   evaluates commands into a [`Batch`] (one evaluation path for every
//!   command) and applies it; [`store::listing`]: [`Store::list`], ordered
//!   pages of keys with a cursor.
//! - [`command`]: the mutations ([`Command`]) and what each one did
//!   ([`Outcome`], [`Change`]).
//! - [`txn`]: transactions: comparisons, then one branch of operations.
//! - [`entry`]: a stored value with its revision metadata.
//! - [`limits`]: key and value size limits and their validation.
//! - [`api`]: the HTTP/JSON wire types, shared by the server and the client.
//! - [`value_text`]: values in JSON, as text or base64 with an `encoding`.
//! - [`codec`]: the log and snapshot formats, as pure functions on bytes.
//! - [`address`]: parsing of server addresses such as `http://127.0.0.1:8000`.
//! - [`error`]: the crate's error type.
#![deny(missing_docs)]

pub mod address;
pub mod api;
pub mod codec;
pub mod command;
pub mod entry;
pub mod error;
pub mod limits;
pub mod store;
pub mod txn;
pub mod value_text;

pub use command::{Change, ChangeKind, Command, Condition, Outcome};
pub use entry::{Entry, Meta};
pub use error::{CoreError, Result};
pub use limits::Limits;
pub use store::{Batch, Store, StoreWriter};
