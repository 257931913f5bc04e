//! Durable storage: the data directory, the log, snapshots, recovery,
//! compaction, backup and restore.
//!
//! # On disk
//!
//! ```text
//! data/
//!   LOCK                                  flock'd by the running server; holds its pid
//!   snapshot-00000000000000001000.snap    entries as of revision 1000 (fuzzy, see below)
//!   00000000000000001001.log              log segment: records from revision 1001 on
//!   00000000000000052310.log              the next segment, and so on
//!   damaged/                              bytes cut by `--repair`, never deleted
//! ```
//!
//! Formats are in [`kv_core::codec`]. A snapshot named `N` holds every key as
//! of some moment at or after revision `N`; replaying the log from `N + 1`
//! over it gives the exact state. Compaction writes the snapshot while writes
//! continue, then deletes the segments before `N + 1`.
//!
//! # Layout
//!
//! Public, for tools and benchmarks that work on a data directory (the
//! server's own use of them is crate-internal): [`DataDir`], [`segment`],
//! [`snapshot`], [`recovery`], and [`backup`]'s restore.
//!
//! - `data_dir`: the directory, its lock, file names and directory fsync.
//! - `fsync_policy`: `always`, `everysec`, `no`.
//! - [`segment`]: appending to a segment and scanning one back.
//! - [`snapshot`]: writing and loading snapshots.
//! - [`recovery`]: snapshot + log replay at startup, torn tails, `--repair`.
//! - `durable_log`: the log on disk behind the commit pipeline
//!   (`commit_log`): group commit, syncing, rotation, and when to compact.
//! - `compaction`: the background snapshot-and-trim.
//! - [`backup`]: a consistent backup stream, and restoring a directory from it.
//! - `status`: what the storage reports to `GET /` (policy, writable, error).
//! - `error`: the error type, [`StorageError`].

pub mod backup;
pub(crate) mod commit_log;
pub(crate) mod compaction;
pub(crate) mod data_dir;
pub(crate) mod durable_log;
pub(crate) mod error;
pub(crate) mod fsync_policy;
pub mod recovery;
pub mod segment;
pub mod snapshot;
pub(crate) mod status;
#[cfg(test)]
mod tests;

pub use data_dir::DataDir;
pub(crate) use durable_log::DurableLog;
pub use error::{Result, StorageError};
pub use fsync_policy::FsyncPolicy;
pub(crate) use status::StorageStatus;
