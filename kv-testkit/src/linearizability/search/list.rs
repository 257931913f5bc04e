//! [`EntryList`]: every call and return of one key's operations, sorted by
//! time, as a doubly linked list from which an operation's two entries are
//! taken out when it is linearized and put back in place on backtracking.

use super::Timed;

/// No entry: the end of the list.
pub(super) const NONE: usize = usize::MAX;

/// An entry of the list: the call or the return of operation `op`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) op: usize,
    pub(super) is_call: bool,
}

/// The list, over indices into `entries`; index `entries.len()` is the
/// head.
#[derive(Debug)]
pub(super) struct EntryList {
    pub(super) entries: Vec<Entry>,
    pub(super) next: Vec<usize>,
    prev: Vec<usize>,
    /// The index of each operation's call entry, and of its return entry.
    pub(super) call_entry: Vec<usize>,
    return_entry: Vec<usize>,
}

impl EntryList {
    /// The calls and returns of `ops`, sorted by time; at the same time,
    /// calls come first, so operations that touch count as concurrent.
    pub(super) fn new(ops: &[Timed]) -> EntryList {
        let mut timed: Vec<(u64, bool, usize)> = ops
            .iter()
            .enumerate()
            .flat_map(|(op, t)| [(t.call, false, op), (t.ret, true, op)])
            .collect();
        timed.sort_unstable();
        let count = timed.len();
        let head = count;
        let mut list = EntryList {
            entries: Vec::with_capacity(count),
            next: (1..=count)
                .map(|i| if i == count { NONE } else { i })
                .collect(),
            prev: (0..count)
                .map(|i| if i == 0 { head } else { i - 1 })
                .collect(),
            call_entry: vec![0; ops.len()],
            return_entry: vec![0; ops.len()],
        };
        list.next.push(if count == 0 { NONE } else { 0 });
        list.prev.push(NONE);
        for (index, &(_, is_return, op)) in timed.iter().enumerate() {
            if is_return {
                list.return_entry[op] = index;
            } else {
                list.call_entry[op] = index;
            }
            list.entries.push(Entry {
                op,
                is_call: !is_return,
            });
        }
        list
    }

    /// The first entry still in the list, or [`NONE`].
    pub(super) fn first(&self) -> usize {
        self.next[self.entries.len()]
    }

    /// Takes operation `op`'s call and return out of the list.
    pub(super) fn lift(&mut self, op: usize) {
        self.unlink(self.call_entry[op]);
        self.unlink(self.return_entry[op]);
    }

    /// Puts back what [`lift`](Self::lift) took out, in reverse order: the
    /// last operation lifted must be the first put back.
    pub(super) fn unlift(&mut self, op: usize) {
        self.relink(self.return_entry[op]);
        self.relink(self.call_entry[op]);
    }

    fn unlink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = next;
        if next != NONE {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, entry: usize) {
        let (prev, next) = (self.prev[entry], self.next[entry]);
        self.next[prev] = entry;
        if next != NONE {
            self.prev[next] = entry;
        }
    }
}
