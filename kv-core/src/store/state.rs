//! [`StoreState`]: what the read handles and the writer share: the shards,
//! the revision, the byte count and the limits.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::entry::Entry;
use crate::limits::Limits;

/// One shard: its entries in key order. Each entry holds its own key, so a
/// slot is one thin pointer.
pub(crate) type Shard = BTreeSet<Slot>;

/// An entry as a shard holds it: ordered, compared and looked up by its key
/// alone (as bytes; UTF-8 orders the same as its bytes).
#[derive(Debug, Clone)]
pub(crate) struct Slot(pub(crate) Entry);

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.0.key_bytes() == other.0.key_bytes()
    }
}

impl Eq for Slot {}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Slot {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.key_bytes().cmp(other.0.key_bytes())
    }
}

impl Borrow<[u8]> for Slot {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.0.key_bytes()
    }
}

/// A shard's lock, alone on its cache lines (128 bytes: two 64-byte lines,
/// as x86 prefetches pairs). Unpadded, neighbouring locks share a line, and
/// readers of different shards on two cores slow each other down: the
/// criterion `store` bench measured 2-thread gets at about twice the time
/// per get before this padding.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct ShardLock(RwLock<Shard>);

impl std::ops::Deref for ShardLock {
    type Target = RwLock<Shard>;

    fn deref(&self) -> &RwLock<Shard> {
        &self.0
    }
}

/// The shards and counters every handle on one store shares.
#[derive(Debug)]
pub(crate) struct StoreState {
    pub(crate) shards: Box<[ShardLock]>,
    /// Picks a shard. `RandomState` is SipHash with per-process random keys,
    /// so a client cannot choose keys that all land in one shard.
    shard_hasher: RandomState,
    /// The revision of the last applied change.
    pub(crate) revision: AtomicU64,
    /// Bytes of keys and values held, for deciding when to compact the log.
    pub(crate) live_bytes: AtomicU64,
    /// The sum (wrapping) of every entry's fingerprint: two stores holding
    /// the same entries have the same digest, whatever order they got them.
    digest: AtomicU64,
    /// The revision and digest as the writer last left them, together.
    summary: Mutex<Summary>,
    pub(crate) limits: Limits,
}

/// A store's revision and the digest of its whole state at that revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// The revision of the last applied change.
    pub rev: u64,
    /// The wrapping sum of every entry's [`Entry::fingerprint`].
    pub digest: u64,
}

impl StoreState {
    /// An empty store of `shards` shards (a power of two).
    pub(crate) fn new(shards: usize, limits: Limits) -> Self {
        Self {
            shards: (0..shards).map(|_| ShardLock::default()).collect(),
            shard_hasher: RandomState::new(),
            revision: AtomicU64::new(0),
            live_bytes: AtomicU64::new(0),
            digest: AtomicU64::new(0),
            summary: Mutex::new(Summary::default()),
            limits,
        }
    }

    fn shard_index(&self, key: &[u8]) -> usize {
        // The mask keeps the low bits; the shard count is a power of two.
        (self.shard_hasher.hash_one(key) as usize) & (self.shards.len() - 1)
    }

    /// A shard's read lock. A poisoned lock means a panic happened while it
    /// was held; the maps are only mutated by `insert`/`remove`, which leave
    /// them consistent, so the data is still good to read.
    pub(crate) fn read(shard: &ShardLock) -> RwLockReadGuard<'_, Shard> {
        shard.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_shard(&self, key: &[u8]) -> RwLockWriteGuard<'_, Shard> {
        self.shards[self.shard_index(key)]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of `key`, expired or not.
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        Self::read(&self.shards[self.shard_index(key.as_bytes())])
            .get(key.as_bytes())
            .map(|slot| slot.0.clone())
    }

    /// The entry of `key` unless it has expired at `now`.
    pub(crate) fn get_live(&self, key: &str, now: u64) -> Option<Entry> {
        self.get(key).filter(|e| !e.is_expired(now))
    }

    /// Every entry under `prefix` that has not expired at `now`, from every
    /// shard.
    pub(crate) fn live_under(&self, prefix: &str, now: u64) -> Vec<Entry> {
        let mut found = Vec::new();
        for shard in self.shards.iter() {
            let shard = Self::read(shard);
            let range =
                shard.range::<[u8], _>((Bound::Included(prefix.as_bytes()), Bound::Unbounded));
            found.extend(
                range
                    .map(|slot| &slot.0)
                    .take_while(|entry| entry.key_bytes().starts_with(prefix.as_bytes()))
                    .filter(|entry| !entry.is_expired(now))
                    .cloned(),
            );
        }
        found
    }

    /// The revision and digest the writer last published.
    pub(crate) fn summary(&self) -> Summary {
        *self.summary.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the current revision and digest together. The writer
    /// calls it when a batch (or a recovery step) is complete.
    pub(crate) fn publish_summary(&self) {
        let summary = Summary {
            rev: self.revision.load(Ordering::Acquire),
            digest: self.digest.load(Ordering::Relaxed),
        };
        *self.summary.lock().unwrap_or_else(|e| e.into_inner()) = summary;
    }

    /// Puts `entry` under its key (only if it is newer than what is there,
    /// when `only_if_newer`) and keeps `live_bytes` and the digest in step. One lock, and
    /// one lookup unless `only_if_newer`; returns whether it was stored.
    pub(crate) fn upsert(&self, entry: Entry, only_if_newer: bool) -> bool {
        let added = entry.size() as u64;
        let fingerprint = entry.fingerprint();
        let mut shard = self.write_shard(entry.key_bytes());
        if only_if_newer
            && shard
                .get(entry.key_bytes())
                .is_some_and(|old| old.0.mod_rev() >= entry.mod_rev())
        {
            return false;
        }
        let old = shard.replace(Slot(entry));
        drop(shard);
        let (removed, old_fingerprint) =
            old.map_or((0, 0), |old| (old.0.size(), old.0.fingerprint()));
        self.live_bytes.fetch_add(added, Ordering::Relaxed);
        self.live_bytes.fetch_sub(removed as u64, Ordering::Relaxed);
        self.digest
            .fetch_add(fingerprint.wrapping_sub(old_fingerprint), Ordering::Relaxed);
        true
    }

    /// Removes `key` and keeps `live_bytes` and the digest in step.
    pub(crate) fn remove(&self, key: &str) {
        if let Some(old) = self.write_shard(key.as_bytes()).take(key.as_bytes()) {
            self.live_bytes
                .fetch_sub(old.0.size() as u64, Ordering::Relaxed);
            self.digest
                .fetch_sub(old.0.fingerprint(), Ordering::Relaxed);
        }
    }
}
