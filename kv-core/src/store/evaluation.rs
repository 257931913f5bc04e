//! [`Evaluation`]: one batch being evaluated. The store as the last applied
//! batch left it, plus what this batch has done so far (its pending
//! overlay); every command, original or v1, changes keys through the same
//! two steps, [`Evaluation::put`] and [`Evaluation::remove`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::command::{Change, ChangeKind, Command, Condition, Outcome};
use crate::entry::{Entry, Meta};
use crate::error::{CoreError, Result};
use crate::store::state::StoreState;
use crate::txn::{Txn, TxnOp, TxnResult};

/// A batch in the making.
#[derive(Debug)]
pub(crate) struct Evaluation<'a> {
    state: &'a StoreState,
    /// The batch's time, in milliseconds since the epoch: every command sees
    /// the same expiries.
    now: u64,
    /// The last revision handed out.
    rev: u64,
    /// Keys this batch changed, and their state after it.
    overlay: HashMap<Arc<str>, Option<Entry>>,
    /// The changes so far, one per key and revision, in revision order.
    pub(crate) changes: Vec<Change>,
}

/// What a new value is, besides its key.
struct NewValue<'v> {
    value: &'v [u8],
    content_type: Option<&'v str>,
    expires_at: Option<u64>,
}

impl<'a> Evaluation<'a> {
    /// A batch of about `expected` commands over `state`, at time `now`.
    pub(crate) fn new(state: &'a StoreState, now: u64, expected: usize) -> Self {
        Self {
            state,
            now,
            rev: state.revision.load(std::sync::atomic::Ordering::Acquire),
            overlay: HashMap::with_capacity(expected),
            changes: Vec::with_capacity(expected),
        }
    }

    /// Evaluates one command; a failed one changes nothing.
    pub(crate) fn command(&mut self, command: Command) -> Result<Outcome> {
        match command {
            Command::Set {
                key,
                value,
                content_type,
                expires_at,
                condition,
            } => self.set(
                key,
                &NewValue {
                    value: &value,
                    content_type: content_type.as_deref(),
                    expires_at,
                },
                condition,
            ),
            Command::Rm { key, condition } => self.rm(key, condition),
            Command::RmPrefix { prefix } => Ok(self.rm_prefix(&prefix)),
            Command::Txn(txn) => self.txn(txn),
            Command::Expire { key, mod_rev } => Ok(self.expire(key, mod_rev)),
        }
    }

    /// The key's entry as this batch sees it: its own change if it made
    /// one, else the store's, unless expired.
    fn current(&self, key: &str) -> Option<Entry> {
        match self.overlay.get(key) {
            Some(state) => state.clone(),
            None => self.state.get_live(key, self.now),
        }
    }

    /// Writes `new` under `key` at revision `rev`; returns the entry it
    /// replaced.
    fn put(&mut self, key: Arc<str>, new: &NewValue<'_>, rev: u64) -> Option<Entry> {
        let prev = self.current(&key);
        let entry = Entry::new(
            &key,
            new.value,
            Meta {
                create_rev: prev.as_ref().map_or(rev, Entry::create_rev),
                mod_rev: rev,
                version: prev.as_ref().map_or(1, |e| e.version() + 1),
                content_type: new.content_type,
                expires_at: new.expires_at,
            },
        );
        self.overlay.insert(Arc::clone(&key), Some(entry.clone()));
        self.changes.push(Change {
            rev,
            key,
            kind: ChangeKind::Put(entry),
            prev: prev.clone(),
        });
        prev
    }

    /// Removes `key`, which holds `prev`, at revision `rev`.
    fn remove(&mut self, key: Arc<str>, prev: Entry, kind: ChangeKind, rev: u64) {
        self.overlay.insert(Arc::clone(&key), None);
        self.changes.push(Change {
            rev,
            key,
            kind,
            prev: Some(prev),
        });
    }

    /// The next revision, handed out.
    fn next_rev(&mut self) -> u64 {
        self.rev += 1;
        self.rev
    }

    /// Fails unless `condition` holds for the key's current entry.
    fn check(&self, condition: Condition, current: Option<&Entry>) -> Result<()> {
        if condition.holds(current) {
            return Ok(());
        }
        Err(CoreError::ConditionFailed {
            mod_rev: current.map(Entry::mod_rev),
            rev: self.rev,
        })
    }

    fn set(&mut self, key: String, new: &NewValue<'_>, condition: Condition) -> Result<Outcome> {
        let limits = &self.state.limits;
        limits.check_key(&key)?;
        limits.check_value(new.value)?;
        self.check(condition, self.current(&key).as_ref())?;
        let rev = self.next_rev();
        let prev = self.put(key.into(), new, rev);
        Ok(Outcome::Set { rev, prev })
    }

    fn rm(&mut self, key: String, condition: Condition) -> Result<Outcome> {
        self.state.limits.check_key(&key)?;
        let current = self.current(&key);
        self.check(condition, current.as_ref())?;
        let Some(prev) = current else {
            return Ok(Outcome::Rm {
                rev: self.rev,
                removed: None,
            });
        };
        let rev = self.next_rev();
        self.remove(key.into(), prev.clone(), ChangeKind::Remove, rev);
        Ok(Outcome::Rm {
            rev,
            removed: Some(prev),
        })
    }

    /// Removes every key under `prefix` at one new revision: the keys in
    /// the store (expired ones get their own expire event) plus those the
    /// batch created, minus those it already removed; in key order.
    fn rm_prefix(&mut self, prefix: &str) -> Outcome {
        let mut doomed: BTreeMap<Arc<str>, Entry> = self
            .state
            .live_under(prefix, self.now)
            .into_iter()
            .map(|entry| (Arc::from(entry.key()), entry))
            .collect();
        for (key, state) in &self.overlay {
            if key.starts_with(prefix) {
                match state {
                    Some(entry) => doomed.insert(Arc::clone(key), entry.clone()),
                    None => doomed.remove(key),
                };
            }
        }
        if doomed.is_empty() {
            return Outcome::RmPrefix {
                rev: self.rev,
                removed: 0,
            };
        }
        let rev = self.next_rev();
        let removed = doomed.len() as u64;
        for (key, entry) in doomed {
            self.remove(key, entry, ChangeKind::Remove, rev);
        }
        Outcome::RmPrefix { rev, removed }
    }

    /// Removes `key` as expired if it is still the write at `mod_rev` and
    /// its deadline has passed.
    fn expire(&mut self, key: String, mod_rev: u64) -> Outcome {
        // The store's entry even though it expired: that is the point.
        let current = match self.overlay.get(key.as_str()) {
            Some(state) => state.clone(),
            None => self.state.get(&key),
        };
        let Some(entry) = current.filter(|e| e.mod_rev() == mod_rev && e.is_expired(self.now))
        else {
            return Outcome::Expire {
                rev: self.rev,
                expired: false,
            };
        };
        let rev = self.next_rev();
        self.remove(key.into(), entry, ChangeKind::Expire, rev);
        Outcome::Expire { rev, expired: true }
    }

    /// Runs a transaction: checks every key and value, evaluates the
    /// comparisons, then applies the chosen branch in order at one new
    /// revision (none when it changes nothing).
    fn txn(&mut self, txn: Txn) -> Result<Outcome> {
        self.state.limits.check_txn(&txn)?;
        let succeeded = txn
            .compare
            .iter()
            .all(|c| c.holds(self.current(&c.key).as_ref()));
        let ops = if succeeded { txn.success } else { txn.failure };
        let rev = self.rev + 1;
        // A batch is presized by its command count; a large transaction
        // (an import's chunk) is many changes in one command.
        self.overlay.reserve(ops.len());
        self.changes.reserve(ops.len());
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(self.txn_op(op, rev));
        }
        if self.changes.last().is_some_and(|c| c.rev == rev) {
            self.rev = rev;
        }
        Ok(Outcome::Txn {
            rev: self.rev,
            succeeded,
            results,
        })
    }

    /// One operation of the branch that runs, at revision `rev`.
    fn txn_op(&mut self, op: TxnOp, rev: u64) -> TxnResult {
        match op {
            TxnOp::Put {
                key,
                value,
                content_type,
                expires_at,
            } => {
                let new = NewValue {
                    value: &value,
                    content_type: content_type.as_deref(),
                    expires_at,
                };
                let prev = self.put(key.into(), &new, rev);
                TxnResult::Put {
                    created: prev.is_none(),
                }
            }
            TxnOp::Delete { key } => {
                let prev = self.current(&key);
                let deleted = prev.is_some();
                if let Some(prev) = prev {
                    self.remove(key.into(), prev, ChangeKind::Remove, rev);
                }
                TxnResult::Delete { deleted }
            }
            TxnOp::Get { key } => {
                let entry = self.current(&key);
                TxnResult::Get { key, entry }
            }
        }
    }
}
