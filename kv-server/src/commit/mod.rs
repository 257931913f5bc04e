//! The write side: the single writer and what feeds it.
//!
//! - [`pipeline`]: [`CommitPipeline`](pipeline::CommitPipeline), the
//!   single writer thread and its queue (group commit), handing each batch
//!   to a [`BatchSink`](pipeline::BatchSink).
//! - [`local`]: [`LocalCommit`](local::LocalCommit), a single node's sink:
//!   evaluate, log, apply, answer.
//! - `gathering`: one message per event-loop turn for the writer.
//! - [`scheduling`]: how the HTTP workers are scheduled so that they do
//!   not preempt the writer.
//! - [`expiry`]: the scheduler that expires keys on time.
//! - [`clock`]: the wall clock (kv-core reads none).
//!
//! Uses [`crate::storage`] (the commit log), [`crate::error`], kv-core and
//! kv-pubsub; nothing above.

pub mod clock;
pub mod expiry;
pub(crate) mod gathering;
pub mod local;
pub mod pipeline;
pub mod scheduling;
