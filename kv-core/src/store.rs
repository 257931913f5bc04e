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
//! Each shard is a `std::sync::RwLock` over an ordered set of entries (each
//! holds its key): critical sections
//! are a lookup or an insert, never an await or I/O, so a blocking lock is
//! cheaper than an async one, and readers of one shard never wait for
//! writers of another. Keys are spread over shards by a keyed hash; inside a
//! shard they are sorted, so listing merges the shards' ordered ranges
//! instead of scanning everything.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::codec::{LogOp, LogRecord};
use crate::command::{Change, ChangeKind, Command, Outcome};
use crate::entry::{now_ms, Entry, Meta};
use crate::error::{CoreError, Result};
use crate::limits::Limits;
use crate::txn::{Txn, TxnOp, TxnResult};

/// Default number of shards.
pub const DEFAULT_SHARDS: usize = 64;
/// Largest accepted number of shards.
pub const MAX_SHARDS: usize = 65536;

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

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) shards: Box<[ShardLock]>,
    /// Picks a shard. `RandomState` is SipHash with per-process random keys,
    /// so a client cannot choose keys that all land in one shard.
    shard_hasher: RandomState,
    /// The revision of the last applied change.
    revision: AtomicU64,
    /// Bytes of keys and values held, for deciding when to compact the log.
    live_bytes: AtomicU64,
    limits: Limits,
}

impl Shared {
    fn shard_index(&self, key: &[u8]) -> usize {
        // The mask keeps the low bits; the shard count is a power of two.
        (self.shard_hasher.hash_one(key) as usize) & (self.shards.len() - 1)
    }

    fn read_shard(&self, key: &str) -> RwLockReadGuard<'_, Shard> {
        // A poisoned lock means a panic happened while it was held; the maps
        // are only mutated by `insert`/`remove`, which leave them consistent,
        // so the data is still good to read.
        self.shards[self.shard_index(key.as_bytes())]
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write_shard(&self, key: &[u8]) -> RwLockWriteGuard<'_, Shard> {
        self.shards[self.shard_index(key)]
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Option<Entry> {
        self.read_shard(key)
            .get(key.as_bytes())
            .map(|slot| slot.0.clone())
    }

    /// The entry unless it has expired at `now`.
    fn get_live(&self, key: &str, now: u64) -> Option<Entry> {
        self.get(key).filter(|e| !e.is_expired(now))
    }

    /// Puts `entry` under its key (only if it is newer than what is there,
    /// when `only_if_newer`) and keeps `live_bytes` in step. One lock, and
    /// one lookup unless `only_if_newer`; returns whether it was stored.
    fn upsert(&self, entry: Entry, only_if_newer: bool) -> bool {
        let added = entry.size() as u64;
        let mut shard = self.write_shard(entry.key_bytes());
        if only_if_newer
            && shard
                .get(entry.key_bytes())
                .is_some_and(|old| old.0.mod_rev() >= entry.mod_rev())
        {
            return false;
        }
        let removed = shard.replace(Slot(entry)).map_or(0, |old| old.0.size());
        drop(shard);
        self.live_bytes.fetch_add(added, Ordering::Relaxed);
        self.live_bytes.fetch_sub(removed as u64, Ordering::Relaxed);
        true
    }

    /// Removes `key` and keeps `live_bytes` in step.
    fn remove(&self, key: &str) {
        if let Some(old) = self.write_shard(key.as_bytes()).take(key.as_bytes()) {
            self.live_bytes
                .fetch_sub(old.0.size() as u64, Ordering::Relaxed);
        }
    }
}

/// A read handle on the store. Cheap to clone; every clone sees the same data.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
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
        if !shards.is_power_of_two() || shards > MAX_SHARDS {
            return Err(CoreError::InvalidShardCount(shards));
        }
        let shared = Arc::new(Shared {
            shards: (0..shards).map(|_| ShardLock::default()).collect(),
            shard_hasher: RandomState::new(),
            revision: AtomicU64::new(0),
            live_bytes: AtomicU64::new(0),
            limits,
        });
        let store = Store {
            shared: Arc::clone(&shared),
        };
        Ok((store, StoreWriter { shared }))
    }

    /// The current value of `key` with its metadata, if it exists.
    ///
    /// # Errors
    ///
    /// The key fails [`Limits::check_key`].
    pub fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.shared.limits.check_key(key)?;
        Ok(self.shared.get_live(key, now_ms()))
    }

    /// The revision of the last applied change (0 for an empty history).
    pub fn revision(&self) -> u64 {
        self.shared.revision.load(Ordering::Acquire)
    }

    /// The number of keys. Takes each shard's read lock in turn, so under
    /// concurrent writes it is a close estimate, not a snapshot.
    pub fn len(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The limits every key and value is checked against.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Bytes of keys and values currently held.
    pub fn live_bytes(&self) -> u64 {
        self.shared.live_bytes.load(Ordering::Relaxed)
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
        for shard in self.shared.shards.iter() {
            let copy: Vec<Entry> = shard
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|slot| slot.0.clone())
                .collect();
            visit(copy)?;
        }
        Ok(())
    }
}

/// The one handle that mutates the store. Not `Clone`: there is one writer.
#[derive(Debug)]
pub struct StoreWriter {
    shared: Arc<Shared>,
}

/// A batch of evaluated commands, ready to be logged and applied.
#[derive(Debug, Default)]
pub struct Batch {
    /// The committed changes, one per revision, in revision order.
    pub changes: Vec<Change>,
    /// One result per command, in submission order.
    pub outcomes: Vec<Result<Outcome>>,
}

impl StoreWriter {
    /// A read handle on the same store.
    pub fn store(&self) -> Store {
        Store {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Evaluates `commands` in order against the current state plus the
    /// effects of the earlier commands of the same batch, and assigns each
    /// change the next revision. Readers see nothing of it until
    /// [`apply`](Self::apply).
    ///
    /// A command that fails validation gets an `Err` outcome and no revision;
    /// the others are unaffected.
    pub fn prepare(&self, commands: impl IntoIterator<Item = Command>) -> Batch {
        let mut rev = self.shared.revision.load(Ordering::Acquire);
        let commands = commands.into_iter();
        let expected = commands.size_hint().0;
        let mut batch = Batch {
            changes: Vec::with_capacity(expected),
            outcomes: Vec::with_capacity(expected),
        };
        // Keys touched earlier in this batch and their state after it.
        let mut overlay: HashMap<Arc<str>, Option<Entry>> = HashMap::with_capacity(expected);
        // One clock reading per batch: every command sees the same expiries.
        let now = now_ms();
        for command in commands {
            let outcome = self.evaluate(command, now, &mut rev, &mut overlay, &mut batch.changes);
            batch.outcomes.push(outcome);
        }
        batch
    }

    fn evaluate(
        &self,
        command: Command,
        now: u64,
        rev: &mut u64,
        overlay: &mut HashMap<Arc<str>, Option<Entry>>,
        changes: &mut Vec<Change>,
    ) -> Result<Outcome> {
        let command = match command {
            Command::RmPrefix { prefix } => {
                return Ok(self.remove_prefix(&prefix, now, rev, overlay, changes))
            }
            Command::Txn(txn) => return self.run_txn(txn, now, rev, overlay, changes),
            Command::Expire { key, mod_rev } => {
                return Ok(self.expire(key, mod_rev, now, rev, overlay, changes))
            }
            other => other,
        };
        let limits = &self.shared.limits;
        limits.check_key(command.key())?;
        if let Command::Set { value, .. } = &command {
            limits.check_value(value)?;
        }
        let key: Arc<str> = Arc::from(command.key());
        let current = match overlay.get(&key) {
            Some(state) => state.clone(),
            None => self.shared.get_live(&key, now),
        };
        if !command.condition().holds(current.as_ref()) {
            return Err(CoreError::ConditionFailed {
                mod_rev: current.map(|e| e.mod_rev()),
                rev: *rev,
            });
        }
        match command {
            Command::Set {
                value,
                content_type,
                expires_at,
                ..
            } => {
                *rev += 1;
                let entry = Entry::new(
                    &key,
                    &value,
                    Meta {
                        create_rev: current.as_ref().map_or(*rev, Entry::create_rev),
                        mod_rev: *rev,
                        version: current.as_ref().map_or(1, |e| e.version() + 1),
                        content_type: content_type.as_deref(),
                        expires_at,
                    },
                );
                overlay.insert(Arc::clone(&key), Some(entry.clone()));
                changes.push(Change {
                    rev: *rev,
                    key,
                    kind: ChangeKind::Put(entry),
                    prev: current.clone(),
                });
                Ok(Outcome::Set {
                    rev: *rev,
                    prev: current,
                })
            }
            Command::RmPrefix { .. } | Command::Txn(_) | Command::Expire { .. } => {
                unreachable!("handled before the key checks")
            }
            Command::Rm { .. } => {
                if current.is_none() {
                    return Ok(Outcome::Rm {
                        rev: *rev,
                        removed: None,
                    });
                }
                *rev += 1;
                overlay.insert(Arc::clone(&key), None);
                changes.push(Change {
                    rev: *rev,
                    key,
                    kind: ChangeKind::Remove,
                    prev: current.clone(),
                });
                Ok(Outcome::Rm {
                    rev: *rev,
                    removed: current,
                })
            }
        }
    }

    /// Runs a transaction: checks every key and value, evaluates the
    /// comparisons, then applies the chosen branch in order at one new
    /// revision (none when it changes nothing).
    fn run_txn(
        &self,
        txn: Txn,
        now: u64,
        rev: &mut u64,
        overlay: &mut HashMap<Arc<str>, Option<Entry>>,
        changes: &mut Vec<Change>,
    ) -> Result<Outcome> {
        let limits = &self.shared.limits;
        for (i, compare) in txn.compare.iter().enumerate() {
            limits
                .check_key(&compare.key)
                .map_err(|e| CoreError::InvalidTxn(format!("compare[{i}]: {e}")))?;
        }
        for (branch, ops) in [("success", &txn.success), ("failure", &txn.failure)] {
            let mut changed = std::collections::HashSet::new();
            for (i, op) in ops.iter().enumerate() {
                limits
                    .check_key(op.key())
                    .map_err(|e| CoreError::InvalidTxn(format!("{branch}[{i}]: {e}")))?;
                if let TxnOp::Put { value, .. } = op {
                    limits.check_value(value)?;
                }
                if op.mutates() && !changed.insert(op.key()) {
                    return Err(CoreError::InvalidTxn(format!(
                        "{branch}[{i}]: key {:?} is changed twice in one transaction",
                        op.key()
                    )));
                }
            }
        }
        let current = |overlay: &HashMap<Arc<str>, Option<Entry>>, key: &str| match overlay.get(key)
        {
            Some(state) => state.clone(),
            None => self.shared.get_live(key, now),
        };
        let succeeded = txn
            .compare
            .iter()
            .all(|c| c.holds(current(overlay, &c.key).as_ref()));
        let ops = if succeeded { txn.success } else { txn.failure };
        let next = *rev + 1;
        let mut results = Vec::with_capacity(ops.len());
        let mut changed = false;
        for op in ops {
            match op {
                TxnOp::Put {
                    key,
                    value,
                    content_type,
                    expires_at,
                } => {
                    let prev = current(overlay, &key);
                    let entry = Entry::new(
                        &key,
                        &value,
                        Meta {
                            create_rev: prev.as_ref().map_or(next, Entry::create_rev),
                            mod_rev: next,
                            version: prev.as_ref().map_or(1, |e| e.version() + 1),
                            content_type: content_type.as_deref(),
                            expires_at,
                        },
                    );
                    let key: Arc<str> = key.into();
                    overlay.insert(Arc::clone(&key), Some(entry.clone()));
                    results.push(TxnResult::Put {
                        created: prev.is_none(),
                    });
                    changes.push(Change {
                        rev: next,
                        key,
                        kind: ChangeKind::Put(entry),
                        prev,
                    });
                    changed = true;
                }
                TxnOp::Delete { key } => {
                    let prev = current(overlay, &key);
                    results.push(TxnResult::Delete {
                        deleted: prev.is_some(),
                    });
                    if prev.is_some() {
                        let key: Arc<str> = key.into();
                        overlay.insert(Arc::clone(&key), None);
                        changes.push(Change {
                            rev: next,
                            key,
                            kind: ChangeKind::Remove,
                            prev,
                        });
                        changed = true;
                    }
                }
                TxnOp::Get { key } => {
                    let entry = current(overlay, &key);
                    results.push(TxnResult::Get { key, entry });
                }
            }
        }
        if changed {
            *rev = next;
        }
        Ok(Outcome::Txn {
            rev: *rev,
            succeeded,
            results,
        })
    }

    /// Removes every key under `prefix` at one new revision: the keys in the
    /// store plus those the batch created, minus those it already removed.
    fn remove_prefix(
        &self,
        prefix: &str,
        now: u64,
        rev: &mut u64,
        overlay: &mut HashMap<Arc<str>, Option<Entry>>,
        changes: &mut Vec<Change>,
    ) -> Outcome {
        let mut doomed: BTreeMap<Arc<str>, Entry> = BTreeMap::new();
        for shard in self.shared.shards.iter() {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            let matching = shard
                .range::<[u8], _>((
                    std::ops::Bound::Included(prefix.as_bytes()),
                    std::ops::Bound::Unbounded,
                ))
                .map(|slot| &slot.0)
                .take_while(|entry| entry.key_bytes().starts_with(prefix.as_bytes()))
                // Expired keys get their own expire event.
                .filter(|entry| !entry.is_expired(now));
            doomed.extend(matching.map(|entry| (Arc::from(entry.key()), entry.clone())));
        }
        for (key, state) in overlay.iter() {
            if key.starts_with(prefix) {
                match state {
                    Some(entry) => doomed.insert(Arc::clone(key), entry.clone()),
                    None => doomed.remove(key),
                };
            }
        }
        if doomed.is_empty() {
            return Outcome::RmPrefix {
                rev: *rev,
                removed: 0,
            };
        }
        *rev += 1;
        let removed = doomed.len() as u64;
        for (key, entry) in doomed {
            overlay.insert(Arc::clone(&key), None);
            changes.push(Change {
                rev: *rev,
                key,
                kind: ChangeKind::Remove,
                prev: Some(entry),
            });
        }
        Outcome::RmPrefix { rev: *rev, removed }
    }

    /// Removes `key` as expired if it is still the write at `mod_rev` and
    /// its deadline has passed at `now`.
    fn expire(
        &self,
        key: String,
        mod_rev: u64,
        now: u64,
        rev: &mut u64,
        overlay: &mut HashMap<Arc<str>, Option<Entry>>,
        changes: &mut Vec<Change>,
    ) -> Outcome {
        let current = match overlay.get(key.as_str()) {
            Some(state) => state.clone(),
            None => self.shared.get(&key),
        };
        let Some(entry) = current.filter(|e| e.mod_rev() == mod_rev && e.is_expired(now)) else {
            return Outcome::Expire {
                rev: *rev,
                expired: false,
            };
        };
        *rev += 1;
        let key: Arc<str> = key.into();
        overlay.insert(Arc::clone(&key), None);
        changes.push(Change {
            rev: *rev,
            key,
            kind: ChangeKind::Expire,
            prev: Some(entry),
        });
        Outcome::Expire {
            rev: *rev,
            expired: true,
        }
    }

    /// Every key with an expiry: `(expires_at, mod_rev, key)`. The expiry
    /// scheduler loads this at startup.
    pub fn expiries(&self) -> Vec<(u64, u64, Arc<str>)> {
        let mut found = Vec::new();
        for shard in self.shared.shards.iter() {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            found.extend(shard.iter().filter_map(|Slot(entry)| {
                entry
                    .expires_at()
                    .map(|at| (at, entry.mod_rev(), Arc::from(entry.key())))
            }));
        }
        found
    }

    /// Makes a prepared batch visible to readers and advances the revision.
    ///
    /// The batch must come from [`prepare`](Self::prepare) on this writer with
    /// no other batch applied in between; `&mut self` makes that the caller's
    /// single writer thread's job.
    pub fn apply(&mut self, batch: &Batch) {
        let Some(last) = batch.changes.last() else {
            return;
        };
        for change in &batch.changes {
            match &change.kind {
                ChangeKind::Put(entry) => {
                    self.shared.upsert(entry.clone(), false);
                }
                ChangeKind::Remove | ChangeKind::Expire => self.shared.remove(&change.key),
            }
        }
        self.shared.revision.store(last.rev, Ordering::Release);
    }

    /// Puts an entry read from a snapshot, unless the store already holds a
    /// newer one for the key. Recovery only.
    pub fn load(&mut self, entry: Entry) {
        let mod_rev = entry.mod_rev();
        if self.shared.upsert(entry, true) {
            self.raise_revision(mod_rev);
        }
    }

    /// Replays a log record. Idempotent: an op older than the key's current
    /// `mod_rev` (already reflected, for example by a snapshot taken while
    /// writes went on) is skipped. Recovery only.
    pub fn replay(&mut self, record: LogRecord) {
        for op in record.ops {
            match op {
                LogOp::Put(entry) => self.load(entry),
                LogOp::Remove { key } => {
                    if self
                        .shared
                        .get(&key)
                        .is_some_and(|e| e.mod_rev() < record.rev)
                    {
                        self.shared.remove(&key);
                    }
                }
            }
        }
        self.raise_revision(record.rev);
    }

    /// Makes the store revision at least `rev`. Recovery only: revisions
    /// recorded by a snapshot or log must never be handed out again.
    pub fn raise_revision(&mut self, rev: u64) {
        self.shared.revision.fetch_max(rev, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Condition;

    fn set(key: &str, value: &str) -> Command {
        Command::set(key, value.as_bytes())
    }

    fn rm(key: &str) -> Command {
        Command::rm(key)
    }

    fn new_store() -> (Store, StoreWriter) {
        Store::new(4, Limits::default()).expect("valid shard count")
    }

    fn commit(writer: &mut StoreWriter, commands: Vec<Command>) -> Vec<Result<Outcome>> {
        let batch = writer.prepare(commands);
        writer.apply(&batch);
        batch.outcomes
    }

    #[test]
    fn shard_count_must_be_a_power_of_two() {
        for bad in [0, 3, 6, MAX_SHARDS * 2] {
            assert_eq!(
                Store::new(bad, Limits::default()).err(),
                Some(CoreError::InvalidShardCount(bad))
            );
        }
        assert!(Store::new(1, Limits::default()).is_ok());
    }

    #[test]
    fn set_returns_previous_and_tracks_metadata() {
        let (store, mut writer) = new_store();
        let out = commit(&mut writer, vec![set("a", "1")]);
        assert_eq!(out, vec![Ok(Outcome::Set { rev: 1, prev: None })]);
        commit(&mut writer, vec![set("b", "x")]);
        let out = commit(&mut writer, vec![set("a", "2")]);
        let Ok(Outcome::Set {
            rev,
            prev: Some(prev),
        }) = &out[0]
        else {
            panic!("unexpected {out:?}");
        };
        assert_eq!((*rev, prev.value()), (3, &b"1"[..]));
        let a = store.get("a").expect("valid key").expect("present");
        assert_eq!((a.create_rev(), a.mod_rev(), a.version()), (1, 3, 2));
        assert_eq!(a.value(), b"2");
        assert_eq!(store.revision(), 3);
    }

    #[test]
    fn rm_of_missing_key_commits_nothing() {
        let (store, mut writer) = new_store();
        let out = commit(&mut writer, vec![rm("nope")]);
        assert_eq!(
            out,
            vec![Ok(Outcome::Rm {
                rev: 0,
                removed: None
            })]
        );
        assert_eq!(store.revision(), 0);
    }

    #[test]
    fn recreated_key_starts_a_new_history() {
        let (store, mut writer) = new_store();
        commit(
            &mut writer,
            vec![set("k", "1"), set("k", "2"), rm("k"), set("k", "3")],
        );
        let k = store.get("k").expect("valid").expect("present");
        assert_eq!((k.create_rev(), k.mod_rev(), k.version()), (4, 4, 1));
    }

    #[test]
    fn a_batch_sees_its_own_earlier_commands() {
        let (store, mut writer) = new_store();
        let batch = writer.prepare(vec![set("k", "1"), set("k", "2"), rm("k"), rm("k")]);
        // Nothing is visible before apply.
        assert_eq!(store.get("k"), Ok(None));
        assert_eq!(store.revision(), 0);
        let revs: Vec<u64> = batch.changes.iter().map(|c| c.rev).collect();
        assert_eq!(revs, vec![1, 2, 3]);
        let Ok(Outcome::Rm {
            removed: Some(e), ..
        }) = &batch.outcomes[2]
        else {
            panic!("unexpected {:?}", batch.outcomes[2]);
        };
        assert_eq!(e.value(), b"2");
        assert_eq!(
            batch.outcomes[3],
            Ok(Outcome::Rm {
                rev: 3,
                removed: None
            })
        );
        writer.apply(&batch);
        assert_eq!(store.get("k"), Ok(None));
        assert_eq!(store.revision(), 3);
    }

    #[test]
    fn replay_is_idempotent_and_skips_older_ops() {
        let (store, mut writer) = new_store();
        let meta = |rev| Meta {
            create_rev: 1,
            mod_rev: rev,
            version: rev,
            content_type: None,
            expires_at: None,
        };
        let put = |rev, value: &str| LogRecord {
            rev,
            ops: vec![LogOp::Put(Entry::new("k", value.as_bytes(), meta(rev)))],
        };
        let remove = |rev| LogRecord {
            rev,
            ops: vec![LogOp::Remove { key: "k".into() }],
        };
        // A fuzzy snapshot caught the key at revision 3.
        writer.load(Entry::new("k", b"three", meta(3)));
        for record in [put(2, "two"), put(3, "three"), remove(1)] {
            writer.replay(record);
        }
        assert_eq!(
            store.get("k").expect("valid").expect("kept").value(),
            b"three"
        );
        writer.replay(put(4, "four"));
        writer.replay(put(4, "four"));
        assert_eq!(
            store.get("k").expect("valid").expect("present").mod_rev(),
            4
        );
        writer.replay(remove(5));
        assert_eq!(store.get("k"), Ok(None));
        assert_eq!(store.revision(), 5);
        assert_eq!(store.live_bytes(), 0);
    }

    #[test]
    fn live_bytes_follow_sets_and_removes() {
        let (store, mut writer) = new_store();
        commit(&mut writer, vec![set("ab", "123"), set("c", "4")]);
        assert_eq!(store.live_bytes(), 7);
        commit(&mut writer, vec![set("ab", "1"), rm("c")]);
        assert_eq!(store.live_bytes(), 3);
        let mut copied = Vec::new();
        store
            .copy_shards(|shard| {
                copied.extend(shard);
                Ok::<(), ()>(())
            })
            .expect("copy");
        assert_eq!(copied.len(), 1);
        assert_eq!(copied[0].key(), "ab");
    }

    #[test]
    fn conditions_guard_sets_and_removes() {
        let (store, mut writer) = new_store();
        let with = |command: Command, condition| match command {
            Command::Set {
                key,
                value,
                content_type,
                expires_at,
                ..
            } => Command::Set {
                key,
                value,
                content_type,
                expires_at,
                condition,
            },
            Command::Rm { key, .. } => Command::Rm { key, condition },
            other => other,
        };
        let out = commit(
            &mut writer,
            vec![
                with(set("k", "1"), Condition::Absent),
                with(set("k", "2"), Condition::Absent),
                with(set("k", "3"), Condition::ModRev(1)),
                with(set("k", "4"), Condition::ModRev(1)),
                with(rm("k"), Condition::ModRev(2)),
                with(rm("gone"), Condition::Exists),
            ],
        );
        assert!(matches!(out[0], Ok(Outcome::Set { rev: 1, .. })));
        assert_eq!(
            out[1],
            Err(CoreError::ConditionFailed {
                mod_rev: Some(1),
                rev: 1
            })
        );
        assert!(matches!(out[2], Ok(Outcome::Set { rev: 2, .. })));
        assert_eq!(
            out[3],
            Err(CoreError::ConditionFailed {
                mod_rev: Some(2),
                rev: 2
            })
        );
        assert!(matches!(
            out[4],
            Ok(Outcome::Rm {
                rev: 3,
                removed: Some(_)
            })
        ));
        assert_eq!(
            out[5],
            Err(CoreError::ConditionFailed {
                mod_rev: None,
                rev: 3
            })
        );
        assert_eq!(store.get("k"), Ok(None));
        assert_eq!(store.revision(), 3);
    }

    #[test]
    fn a_prefix_removal_is_one_revision_and_sees_the_batch() {
        let (store, mut writer) = new_store();
        commit(
            &mut writer,
            vec![set("p/1", "a"), set("p/2", "b"), set("q", "c")],
        );
        let out = commit(
            &mut writer,
            vec![
                set("p/3", "new"),
                rm("p/1"),
                Command::RmPrefix {
                    prefix: "p/".into(),
                },
                Command::RmPrefix {
                    prefix: "p/".into(),
                },
            ],
        );
        assert_eq!(out[2], Ok(Outcome::RmPrefix { rev: 6, removed: 2 }));
        assert_eq!(out[3], Ok(Outcome::RmPrefix { rev: 6, removed: 0 }));
        assert_eq!(store.len(), 1);
        assert!(store.get("q").expect("valid").is_some());
        assert_eq!(store.revision(), 6);
    }

    #[test]
    fn expired_keys_read_as_missing_and_expire_once() {
        let (store, mut writer) = new_store();
        let past = now_ms() - 1;
        let with_expiry = |key: &str, at| Command::Set {
            key: key.into(),
            value: b"v".to_vec(),
            content_type: None,
            expires_at: Some(at),
            condition: Condition::Always,
        };
        commit(
            &mut writer,
            vec![
                with_expiry("old", past),
                with_expiry("later", past + 3_600_000),
            ],
        );
        assert_eq!(store.get("old"), Ok(None), "an expired value is never read");
        assert!(store.get("later").expect("valid").is_some());
        // A set on an expired key starts a new history.
        let out = commit(
            &mut writer,
            vec![Command::Expire {
                key: "old".into(),
                mod_rev: 1,
            }],
        );
        assert_eq!(
            out[0],
            Ok(Outcome::Expire {
                rev: 3,
                expired: true
            })
        );
        let again = commit(
            &mut writer,
            vec![Command::Expire {
                key: "old".into(),
                mod_rev: 1,
            }],
        );
        assert_eq!(
            again[0],
            Ok(Outcome::Expire {
                rev: 3,
                expired: false
            })
        );
        // Not yet due: nothing happens.
        let early = commit(
            &mut writer,
            vec![Command::Expire {
                key: "later".into(),
                mod_rev: 2,
            }],
        );
        assert_eq!(
            early[0],
            Ok(Outcome::Expire {
                rev: 3,
                expired: false
            })
        );
        assert_eq!(writer.expiries().len(), 1);
    }

    #[test]
    fn invalid_commands_fail_alone() {
        let limits = Limits {
            max_key_bytes: 3,
            max_value_bytes: 3,
        };
        let (store, mut writer) = Store::new(2, limits).expect("valid");
        let out = commit(
            &mut writer,
            vec![
                set("", "v"),
                set("long", "v"),
                set("k", "long"),
                set("k", "ok"),
            ],
        );
        assert_eq!(out[0], Err(CoreError::EmptyKey));
        assert_eq!(out[1], Err(CoreError::KeyTooLong { len: 4, max: 3 }));
        assert_eq!(out[2], Err(CoreError::ValueTooLarge { len: 4, max: 3 }));
        assert_eq!(out[3], Ok(Outcome::Set { rev: 1, prev: None }));
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(""), Err(CoreError::EmptyKey));
    }
}
