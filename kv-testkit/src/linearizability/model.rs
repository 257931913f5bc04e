//! The model: one key as a register of strings, absent at first.
//!
//! [`Input`] and [`Output`] are what a test records; inside, `Step` is the
//! same operation with its strings replaced by small numbers (`Interner`),
//! so that the search copies and compares states cheaply.

use std::collections::HashMap;

/// An operation on one key, as a client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Read the value. Answers [`Output::Read`].
    Read,
    /// Set the value. Answers [`Output::Ok`].
    Write(String),
    /// Set the value to `new` only if it is `expected` now (`None`: only if
    /// the key is absent). Answers [`Output::Cas`].
    Cas {
        /// The value the key must have, or `None` for "absent".
        expected: Option<String>,
        /// The value to set.
        new: String,
    },
    /// Remove the key (absent afterwards, whether or not it was present).
    /// Answers [`Output::Ok`].
    Delete,
}

/// What an operation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// What a [`Input::Read`] saw: the value, or `None` when absent.
    Read(Option<String>),
    /// A [`Input::Write`] or [`Input::Delete`] was done.
    Ok,
    /// Whether a [`Input::Cas`] swapped.
    Cas(bool),
}

/// A register state: 0 is absent, `k` the `k`-th distinct value of the
/// key's history (see [`Interner`]).
pub(super) type State = u32;

/// The state a key starts in: absent.
pub(super) const ABSENT: State = 0;

/// Numbers the distinct values of one key's history from 1.
#[derive(Debug, Default)]
pub(super) struct Interner<'a> {
    ids: HashMap<&'a str, State>,
    values: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    /// The state in which the key holds `value` (`None`: absent).
    fn state(&mut self, value: Option<&'a String>) -> State {
        let Some(value) = value else {
            return ABSENT;
        };
        let next = self.values.len() as State + 1;
        *self.ids.entry(value).or_insert_with(|| {
            self.values.push(value);
            next
        })
    }

    /// The value held in `state`, for explanations.
    pub(super) fn value(&self, state: State) -> Option<&'a str> {
        state
            .checked_sub(1)
            .and_then(|index| self.values.get(index as usize).copied())
    }
}

/// An operation and its answer, in states: what the search steps through.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step {
    /// A read that saw this state.
    Read(State),
    /// A write of this state (done, or with an unknown outcome: the same).
    Write(State),
    /// A compare-and-set, with whether it swapped (`None`: unknown).
    Cas {
        expected: State,
        new: State,
        swapped: Option<bool>,
    },
    /// A delete (done, or with an unknown outcome).
    Delete,
    /// An answer of the wrong kind for its operation (a read answered `Ok`):
    /// it fits nowhere, so the checker reports it.
    Mismatch,
}

impl Step {
    /// The step of `input` answered `output` (`None`: unknown), or `None`
    /// for a read with an unknown answer: it changed nothing and promised
    /// nothing, so the checker leaves it out.
    pub(super) fn new<'a>(
        input: &'a Input,
        output: Option<&'a Output>,
        interner: &mut Interner<'a>,
    ) -> Option<Step> {
        Some(match (input, output) {
            (Input::Read, None) => return None,
            (Input::Read, Some(Output::Read(seen))) => Step::Read(interner.state(seen.as_ref())),
            (Input::Write(value), None | Some(Output::Ok)) => {
                Step::Write(interner.state(Some(value)))
            }
            (Input::Cas { expected, new }, None | Some(Output::Cas(_))) => Step::Cas {
                expected: interner.state(expected.as_ref()),
                new: interner.state(Some(new)),
                swapped: match output {
                    Some(Output::Cas(swapped)) => Some(*swapped),
                    _ => None,
                },
            },
            (Input::Delete, None | Some(Output::Ok)) => Step::Delete,
            _ => Step::Mismatch,
        })
    }

    /// The state after this step taken in `state`, or `None` when its
    /// answer is impossible there. Each step is deterministic: a CAS with an
    /// unknown answer swaps exactly when `state` is its expected value.
    pub(super) fn apply(self, state: State) -> Option<State> {
        match self {
            Step::Read(seen) => (seen == state).then_some(state),
            Step::Write(value) => Some(value),
            Step::Cas {
                expected,
                new,
                swapped,
            } => {
                let swaps = state == expected;
                match swapped {
                    Some(answer) if answer != swaps => None,
                    _ => Some(if swaps { new } else { state }),
                }
            }
            Step::Delete => Some(ABSENT),
            Step::Mismatch => None,
        }
    }
}
