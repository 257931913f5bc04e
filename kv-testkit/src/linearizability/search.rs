//! The search for a linearization of one key's history: Wing & Gong's
//! algorithm with Lowe's memoization, as Porcupine implements it.
//!
//! Each operation is two entries, its call and its return, in a list sorted
//! by time ([`list`]). Walking the list from its head, a call may be
//! linearized when its step is possible in the current state: it is lifted
//! out of the list with its return, and the walk restarts from the head.
//! Reaching a return whose call is still in the list means that operation
//! had to take effect by then and could not: the last linearized operation
//! is put back and the walk goes on after it (backtracking). Every
//! configuration reached is remembered and not tried twice ([`memo`]).
//! Backtracking with nothing to put back means there is no linearization.
//!
//! # Optional operations
//!
//! An operation with an unknown outcome and no return is optional: it may
//! take effect at any time after its call, or never (the same as last: its
//! answer is unknown and nothing has to follow it). Tried everywhere, such
//! operations multiply the configurations: any subset of those pending may
//! have been linearized. Three rules cut that down without losing a
//! linearization, since any linearization can be rewritten to follow them:
//!
//! - Once only optional operations are left, the search has succeeded:
//!   they can all go last.
//! - An optional operation that changes nothing is never linearized.
//! - An optional operation is linearized only if the next operation
//!   observes it. It does not when, taken from the state before the
//!   optional one, it would end in the same state (the optional one can
//!   move to the end: a write overwritten); nor, if it is required, when
//!   the optional one taken after it would end in the same state (the two
//!   can swap: a CAS that fails either way). Only past a required one: two
//!   optional ones could otherwise each wait for the other. The rewriting
//!   only moves optional operations later, so it ends.
//!
//! While an observation is owed, the state before the optional operation
//! and which one it was are part of the configuration.
//!
//! This keeps histories cheap where optional operations are rare or write
//! values that nobody reads. Many pending at once that later operations do
//! observe still make the search exponential in their number; hence its
//! budget of steps.

mod list;
mod memo;

use super::model::{State, Step, ABSENT};
use list::{Entry, EntryList};
use memo::{Bits, Memo};

/// One operation of the key's history, with its times in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timed {
    pub(super) step: Step,
    pub(super) call: u64,
    /// `u64::MAX` when it may take effect any time after its call.
    pub(super) ret: u64,
    /// Its outcome is unknown and it has no return (see the module's doc).
    pub(super) optional: bool,
}

/// What the search found about one key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A linearization exists.
    Linearizable,
    /// None exists. The longest linearization of a part of the history that
    /// was found (operation indices, in order), the operation that could not
    /// come next although it had returned, and the state after that part.
    Illegal {
        prefix: Vec<usize>,
        stuck: usize,
        state: State,
    },
    /// The search took more than its budget of steps.
    GaveUp,
}

/// Where the search stands: the state after the operations linearized,
/// and while the last one is optional and not yet observed, the state
/// before it and its index.
#[derive(Debug, Clone, Copy)]
struct Position {
    state: State,
    unobserved: Option<(State, usize)>,
}

impl Position {
    /// Where operation `op` of `ops` leads from here, if it may come next.
    fn after(self, ops: &[Timed], op: usize) -> Option<Position> {
        let step = ops[op].step;
        let state = step.apply(self.state)?;
        if let Some((before, last)) = self.unobserved {
            let without_last = step.apply(before);
            // `last` could be left out: `op` ends the same without it.
            if without_last == Some(state) {
                return None;
            }
            // `last` could come after `op` instead, to the same end.
            let swapped = without_last.and_then(|t| ops[last].step.apply(t));
            if !ops[op].optional && swapped == Some(state) {
                return None;
            }
        }
        if !ops[op].optional {
            return Some(Position {
                state,
                unobserved: None,
            });
        }
        // One that changes nothing can never be observed.
        (state != self.state).then_some(Position {
            state,
            unobserved: Some((self.state, op)),
        })
    }
}

/// Searches for a linearization of `ops`, whose indices must follow their
/// call times, taking at most `max_steps` steps (one step: one list entry
/// looked at).
pub(super) fn search(ops: &[Timed], max_steps: u64) -> Outcome {
    let mut list = EntryList::new(ops);
    let mut memo = Memo::default();
    let mut linearized = Bits::new(ops.len());
    // The operations linearized, in order, each with the position before it.
    let mut stack: Vec<(usize, Position)> = Vec::new();
    let mut position = Position {
        state: ABSENT,
        unobserved: None,
    };
    let mut required_left = ops.iter().filter(|op| !op.optional).count();
    let mut deepest: Option<Outcome> = None;
    let mut entry = list.first();
    for _ in 0..max_steps {
        if required_left == 0 {
            return Outcome::Linearizable;
        }
        let Entry { op, is_call } = list.entries[entry];
        if is_call {
            if let Some(next) = position.after(ops, op) {
                linearized.set(op);
                if memo.insert(&linearized, next.state, next.unobserved) {
                    stack.push((op, position));
                    position = next;
                    required_left -= usize::from(!ops[op].optional);
                    list.lift(op);
                    entry = list.first();
                    continue;
                }
                linearized.clear(op);
            }
            entry = list.next[entry];
        } else {
            if deepest_is_shallower(&deepest, stack.len()) {
                deepest = Some(Outcome::Illegal {
                    prefix: stack.iter().map(|&(op, _)| op).collect(),
                    stuck: op,
                    state: position.state,
                });
            }
            let Some((op, before)) = stack.pop() else {
                return deepest.expect("recorded just above");
            };
            position = before;
            required_left += usize::from(!ops[op].optional);
            linearized.clear(op);
            list.unlift(op);
            entry = list.next[list.call_entry[op]];
        }
    }
    if required_left == 0 {
        Outcome::Linearizable
    } else {
        Outcome::GaveUp
    }
}

/// Whether a dead end `depth` operations deep is the deepest yet (the first
/// one always is).
fn deepest_is_shallower(deepest: &Option<Outcome>, depth: usize) -> bool {
    match deepest {
        Some(Outcome::Illegal { prefix, .. }) => prefix.len() < depth,
        _ => true,
    }
}
