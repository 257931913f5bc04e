//! A linearizability checker for histories of concurrent operations on a
//! key-value store whose keys are registers of strings: [`check`] says
//! whether the operations could have taken effect one at a time, each at an
//! instant between its call and its return, in an order that a single copy
//! of the store would answer exactly as they were answered.
//!
//! It is Wing & Gong's search with Lowe's memoization, as in Porcupine
//! (<https://github.com/anishathalye/porcupine>), and it is
//! P-compositional: a history is linearizable when each key's history is,
//! so it is split by key and each key searched alone (every key starts
//! absent). An operation whose outcome is unknown (`output: None`,
//! `ret: None`) may take effect any time after its call, or never, with any
//! answer; a read whose answer is unknown constrains nothing and is left
//! out.
//!
//! The search is exponential in the worst case (in practice, in the unknown
//! outcomes pending at once that later operations could observe), so it is
//! bounded (see [`Limits`]): past the bound a key's answer is
//! [`CheckResult::Unknown`], never a hang.
//!
//! - [`model`]: [`Input`], [`Output`], and the register they act on.
//! - [`history`]: [`Operation`] and the recorder [`History`].
//! - `search`: the search through one key's history.
//! - `explain`: the text of a [`CheckResult::Illegal`].

mod explain;
pub mod history;
pub mod model;
mod search;

use std::collections::BTreeMap;
use std::fmt;

pub use history::{History, OpId, Operation};
pub use model::{Input, Output};
use model::{Interner, Step};
use search::{Outcome, Timed};

/// How far the checker goes before it answers [`CheckResult::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most operations one key may have (reads with an unknown answer
    /// not counted). Default: 10,000.
    pub max_ops_per_key: usize,
    /// The most steps (list entries looked at) the search may take for one
    /// key. Default: 10,000,000: about a second in an optimized build, a
    /// few seconds in a debug one, and tens of megabytes of memoized
    /// configurations. A legal history usually needs far fewer; an illegal
    /// one with many unknown outcomes pending at once can need more than
    /// any budget.
    pub max_steps_per_key: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_ops_per_key: 10_000,
            max_steps_per_key: 10_000_000,
        }
    }
}

/// What [`check`] found. Its `Display` is the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// Linearizable: every key's history has a linearization.
    Ok,
    /// Not linearizable: `key`'s history has no linearization.
    Illegal {
        /// The key whose history has none.
        key: String,
        /// The longest linearization of a part of the key's history that
        /// the search found: indices into the history, in order.
        linearized: Vec<usize>,
        /// The index of the operation that could not come next, though it
        /// had returned.
        stuck: usize,
        /// Both, as text, with the operations' times and answers.
        explanation: String,
    },
    /// Undecided: the search for `key` went past a [`Limits`] bound (no key
    /// was found illegal).
    Unknown {
        /// The key it gave up on.
        key: String,
        /// Which bound.
        reason: String,
    },
}

impl CheckResult {
    /// Whether the history is linearizable.
    pub fn is_ok(&self) -> bool {
        *self == CheckResult::Ok
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => f.write_str("linearizable"),
            CheckResult::Illegal { explanation, .. } => f.write_str(explanation),
            CheckResult::Unknown { key, reason } => {
                write!(f, "undecided for key {key:?}: {reason}")
            }
        }
    }
}

/// Whether `history` is linearizable, within the default [`Limits`].
pub fn check(history: &[Operation]) -> CheckResult {
    check_with(history, Limits::default())
}

/// Whether `history` is linearizable, within `limits`. Keys are checked in
/// order; the first illegal key is the answer, else the first undecided.
pub fn check_with(history: &[Operation], limits: Limits) -> CheckResult {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, op) in history.iter().enumerate() {
        by_key.entry(&op.key).or_default().push(index);
    }
    let mut undecided = None;
    for (key, indices) in by_key {
        match check_key(history, key, indices, limits) {
            CheckResult::Ok => {}
            illegal @ CheckResult::Illegal { .. } => return illegal,
            unknown @ CheckResult::Unknown { .. } => {
                undecided.get_or_insert(unknown);
            }
        }
    }
    undecided.unwrap_or(CheckResult::Ok)
}

/// Checks one key's operations, `indices` into `history`.
fn check_key(
    history: &[Operation],
    key: &str,
    mut indices: Vec<usize>,
    limits: Limits,
) -> CheckResult {
    // In call order, so that the search's sets of linearized operations
    // are mostly prefixes (see `search`).
    indices.sort_by_key(|&i| history[i].call);
    let mut interner = Interner::default();
    let mut kept = Vec::with_capacity(indices.len());
    let mut ops = Vec::with_capacity(indices.len());
    for index in indices {
        let op = &history[index];
        if let Some(step) = Step::new(&op.input, op.output.as_ref(), &mut interner) {
            kept.push(index);
            ops.push(Timed {
                step,
                call: op.call,
                ret: op.ret.unwrap_or(u64::MAX),
                optional: op.output.is_none() && op.ret.is_none(),
            });
        }
    }
    let unknown = |reason: String| CheckResult::Unknown {
        key: key.to_owned(),
        reason,
    };
    if ops.len() > limits.max_ops_per_key {
        return unknown(format!(
            "{} operations, more than the limit of {}",
            ops.len(),
            limits.max_ops_per_key
        ));
    }
    match search::search(&ops, limits.max_steps_per_key) {
        Outcome::Linearizable => CheckResult::Ok,
        Outcome::GaveUp => unknown(format!(
            "the search took more than {} steps over {} operations",
            limits.max_steps_per_key,
            ops.len()
        )),
        Outcome::Illegal {
            prefix,
            stuck,
            state,
        } => {
            let linearized: Vec<usize> = prefix.iter().map(|&op| kept[op]).collect();
            let stuck = kept[stuck];
            let explanation =
                explain::explain(history, key, &linearized, stuck, interner.value(state));
            CheckResult::Illegal {
                key: key.to_owned(),
                linearized,
                stuck,
                explanation,
            }
        }
    }
}

#[cfg(test)]
mod random_tests;
#[cfg(test)]
mod tests;
