//! The sharded map: one writer, many readers.
//!
//! [`Store`] is a cheap `Clone` handle for readers. [`StoreWriter`] is the one
//! handle that mutates; it is not `Clone`, so the type system keeps a single
//! writer. The writer works in two steps so that a durable log can sit between
//! them:
//!
//! 1. [`StoreWriter::prepare`] evaluates a batch of commands against the
//!    current state plus the batch so far and assigns revisions, changing
//!    nothing that readers can see;
//! 2. [`StoreWriter::apply`] makes the batch visible.
//!
//! Neither reads a clock: reads, listings and batches take the time (`now`,
//! milliseconds since the epoch) from the caller.
//!
//! Each shard is a `std::sync::RwLock` over an ordered set of entries (each
//! holds its key): critical sections are a lookup or an insert, never an
//! await or I/O, so a blocking lock is cheaper than an async one, and readers
//! of one shard never wait for writers of another. Keys are spread over
//! shards by a keyed hash; inside a shard they are sorted, so listing merges
//! the shards' ordered ranges instead of scanning everything.
//!
//! - [`state`](self): the shards and counters the handles share.
//! - `evaluation`: one batch being evaluated, with its pending overlay.
//! - [`writer`]: [`StoreWriter`] and [`Batch`].
//! - [`listing`]: [`Store::list`], ordered pages of keys with a cursor.

mod evaluation;
pub mod listing;
pub(crate) mod state;
#[cfg(test)]
mod tests;
pub mod writer;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::entry::Entry;
use crate::error::{CoreError, Result};
use crate::limits::Limits;
use state::StoreState;
pub use state::Summary;
pub use writer::{Batch, StoreWriter};

/// Default number of shards.
pub const DEFAULT_SHARDS: usize = 64;
/// Largest accepted number of shards.
pub const MAX_SHARDS: usize = 65536;

/// A read handle on the store. Cheap to clone; every clone sees the same data.
///
/// ```
/// use kv_core::{Command, Limits, Outcome, Store};
///
/// let (store, mut writer) = Store::new(16, Limits::default())?;
/// let now = 1_700_000_000_000; // the caller's clock, in ms since the epoch
///
/// // Writes: prepare a batch (nothing visible yet), then apply it.
/// let batch = writer.prepare([Command::set("greeting", "hello"), Command::set("n", "1")], now);
/// writer.apply(&batch);
/// assert_eq!(store.revision(), 2);
/// assert!(matches!(batch.outcomes[0], Ok(Outcome::Set { rev: 1, prev: None })));
///
/// // Reads, from any thread, through any clone of the handle.
/// let reader = store.clone();
/// let entry = std::thread::spawn(move || reader.get("greeting", now)).join().unwrap()?;
/// let entry = entry.expect("just written");
/// assert_eq!(entry.value(), b"hello");
/// assert_eq!((entry.create_rev(), entry.mod_rev(), entry.version()), (1, 1, 1));
/// # Ok::<(), kv_core::CoreError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) state: Arc<StoreState>,
}

/// Checks a shard count before a store is made with it (the server checks
/// its settings before it binds).
///
/// # Errors
///
/// [`CoreError::InvalidShardCount`] unless `shards` is a power of two no
/// larger than [`MAX_SHARDS`].
pub fn check_shard_count(shards: usize) -> Result<()> {
    if !shards.is_power_of_two() || shards > MAX_SHARDS {
        return Err(CoreError::InvalidShardCount(shards));
    }
    Ok(())
}

impl Store {
    /// Creates an empty store with `shards` shards and returns the read handle
    /// together with the single writer.
    ///
    /// # Errors
    ///
    /// [`CoreError::InvalidShardCount`] unless `shards` is a power of two no
    /// larger than [`MAX_SHARDS`].
    pub fn new(shards: usize, limits: Limits) -> Result<(Store, StoreWriter)> {
        check_shard_count(shards)?;
        let state = Arc::new(StoreState::new(shards, limits));
        let store = Store {
            state: Arc::clone(&state),
        };
        Ok((store, StoreWriter { state }))
    }

    /// The current value of `key` with its metadata, if it exists and has
    /// not expired at `now` (milliseconds since the epoch).
    ///
    /// # Errors
    ///
    /// The key fails [`Limits::check_key`].
    pub fn get(&self, key: &str, now: u64) -> Result<Option<Entry>> {
        self.state.limits.check_key(key)?;
        Ok(self.state.get_live(key, now))
    }

    /// The revision of the last applied change and the digest of the whole
    /// state at that revision: stores that applied the same changes have
    /// the same digest.
    pub fn summary(&self) -> Summary {
        self.state.summary()
    }

    /// The revision of the last applied change (0 for an empty history).
    pub fn revision(&self) -> u64 {
        self.state.revision.load(Ordering::Acquire)
    }

    /// The number of keys. Takes each shard's read lock in turn, so under
    /// concurrent writes it is a close estimate, not a snapshot.
    pub fn len(&self) -> usize {
        self.state
            .shards
            .iter()
            .map(|s| StoreState::read(s).len())
            .sum()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The limits every key and value is checked against.
    pub fn limits(&self) -> &Limits {
        &self.state.limits
    }

    /// Bytes of keys and values currently held.
    pub fn live_bytes(&self) -> u64 {
        self.state.live_bytes.load(Ordering::Relaxed)
    }

    /// Copies the store one shard at a time, handing each copy to `visit`
    /// with no lock held. Writes may land between shards, so the result is
    /// a *fuzzy* copy: each entry carries its `mod_rev`, and replaying the
    /// log from the revision read before the copy began makes it exact.
    ///
    /// # Errors
    ///
    /// The first error `visit` returns, which stops the copy.
    pub fn copy_shards<E>(
        &self,
        mut visit: impl FnMut(Vec<Entry>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        for shard in self.state.shards.iter() {
            let copy: Vec<Entry> = StoreState::read(shard)
                .iter()
                .map(|slot| slot.0.clone())
                .collect();
            visit(copy)?;
        }
        Ok(())
    }
}
