//! [`StoreWriter`]: the one handle that mutates the store, in two steps so
//! that a durable log (or a replicated one) can sit between them:
//! [`prepare`](StoreWriter::prepare) evaluates a batch and
//! [`apply`](StoreWriter::apply) makes it visible. It reads no clock: the
//! caller gives each batch its time, so that every replica evaluating the
//! same commands at the same time gets the same result.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::{LogOp, LogRecord};
use crate::command::{Change, ChangeKind, Command, Outcome};
use crate::entry::Entry;
use crate::error::Result;
use crate::store::evaluation::Evaluation;
use crate::store::state::{Slot, StoreState};
use crate::store::Store;

/// The one handle that mutates the store. Not `Clone`: there is one writer.
#[derive(Debug)]
pub struct StoreWriter {
    pub(crate) state: Arc<StoreState>,
}

/// A batch of evaluated commands, ready to be logged and applied.
#[derive(Debug, Default)]
pub struct Batch {
    /// The committed changes, one per key and revision, in revision order.
    pub changes: Vec<Change>,
    /// One result per command, in submission order.
    pub outcomes: Vec<Result<Outcome>>,
}

impl StoreWriter {
    /// A read handle on the same store.
    pub fn store(&self) -> Store {
        Store {
            state: Arc::clone(&self.state),
        }
    }

    /// Evaluates `commands` in order, at time `now` (milliseconds since the
    /// epoch: which entries have expired), against the current state plus
    /// the effects of the earlier commands of the same batch, and assigns
    /// each change the next revision. Readers see nothing of it until
    /// [`apply`](Self::apply).
    ///
    /// A command that fails validation gets an `Err` outcome and no revision;
    /// the others are unaffected.
    ///
    /// Conditions make compare-and-set: here a set conditioned on the
    /// revision read fails once someone else wrote the key.
    ///
    /// ```
    /// use kv_core::command::Condition;
    /// use kv_core::{Command, CoreError, Limits, Store};
    ///
    /// let (store, mut writer) = Store::new(16, Limits::default())?;
    /// let now = 0;
    /// writer.apply(&writer.prepare([Command::set("stock", "10")], now));
    /// let read = store.get("stock", now)?.expect("set").mod_rev();
    ///
    /// let swap = |value: &str| Command::Set {
    ///     key: "stock".into(),
    ///     value: value.into(),
    ///     content_type: None,
    ///     expires_at: None,
    ///     condition: Condition::ModRev(read),
    /// };
    /// // Both commands were written against the same read: the first wins.
    /// let batch = writer.prepare([swap("9"), swap("8")], now);
    /// writer.apply(&batch);
    /// assert!(batch.outcomes[0].is_ok());
    /// assert!(matches!(batch.outcomes[1], Err(CoreError::ConditionFailed { .. })));
    /// assert_eq!(store.get("stock", now)?.unwrap().value(), b"9");
    /// # Ok::<(), CoreError>(())
    /// ```
    pub fn prepare(&self, commands: impl IntoIterator<Item = Command>, now: u64) -> Batch {
        let commands = commands.into_iter();
        let expected = commands.size_hint().0;
        let mut evaluation = Evaluation::new(&self.state, now, expected);
        let outcomes = commands.map(|c| evaluation.command(c)).collect();
        Batch {
            changes: evaluation.changes,
            outcomes,
        }
    }

    /// Every key with an expiry: `(expires_at, mod_rev, key)`. The expiry
    /// scheduler loads this at startup.
    pub fn expiries(&self) -> Vec<(u64, u64, Arc<str>)> {
        let mut found = Vec::new();
        for shard in self.state.shards.iter() {
            let shard = StoreState::read(shard);
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
                    self.state.upsert(entry.clone(), false);
                }
                ChangeKind::Remove | ChangeKind::Expire => self.state.remove(&change.key),
            }
        }
        self.state.revision.store(last.rev, Ordering::Release);
        self.state.publish_summary();
    }

    /// Puts an entry read from a snapshot, unless the store already holds a
    /// newer one for the key. Recovery only.
    pub fn load(&mut self, entry: Entry) {
        let mod_rev = entry.mod_rev();
        if self.state.upsert(entry, true) {
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
                        .state
                        .get(&key)
                        .is_some_and(|e| e.mod_rev() < record.rev)
                    {
                        self.state.remove(&key);
                    }
                }
            }
        }
        self.raise_revision(record.rev);
    }

    /// Makes the store revision at least `rev`. Recovery only: revisions
    /// recorded by a snapshot or log must never be handed out again.
    pub fn raise_revision(&mut self, rev: u64) {
        self.state.revision.fetch_max(rev, Ordering::AcqRel);
        self.state.publish_summary();
    }
}
