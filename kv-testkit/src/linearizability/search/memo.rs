//! [`Memo`]: the configurations the search has reached, so that none is
//! explored twice (Lowe's memoization).

use std::collections::HashSet;

use super::super::model::State;

/// A set of operations, one bit each.
#[derive(Debug)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    /// The empty set of `len` operations.
    pub(super) fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }

    pub(super) fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    pub(super) fn clear(&mut self, bit: usize) {
        self.0[bit / 64] &= !(1 << (bit % 64));
    }
}

/// A configuration, stored compactly: operations are numbered in call
/// order, so a linearized set is mostly a run of full words and a few bits
/// after it; the full words are counted, not stored, and trailing empty
/// words dropped.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Config {
    full_words: usize,
    rest: Box<[u64]>,
    state: State,
    unobserved: Option<(State, usize)>,
}

/// Every configuration the search has reached: the set of operations
/// linearized, the state after them, and the state before the last one
/// while an observation of it is owed (see the search's doc).
#[derive(Debug, Default)]
pub(super) struct Memo(HashSet<Config>);

impl Memo {
    /// Records the configuration, and says whether it is new.
    pub(super) fn insert(
        &mut self,
        linearized: &Bits,
        state: State,
        unobserved: Option<(State, usize)>,
    ) -> bool {
        let words = &linearized.0;
        let full_words = words.iter().take_while(|&&w| w == u64::MAX).count();
        let end = words.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        self.0.insert(Config {
            full_words,
            rest: words[full_words..end.max(full_words)].into(),
            state,
            unobserved,
        })
    }
}
