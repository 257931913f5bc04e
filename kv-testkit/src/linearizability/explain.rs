//! The text of a [`CheckResult::Illegal`](super::CheckResult::Illegal): the
//! end of the longest linearization found, and the operation that could not
//! follow it.

use std::collections::HashSet;
use std::fmt::Write;

use super::history::Operation;

/// How many operations of the prefix, and of those pending, are listed.
const SHOWN: usize = 12;

/// Explains why `key` is not linearizable. `linearized` and `stuck` are
/// indices into `history`; `value` is the key's value after `linearized`.
pub(super) fn explain(
    history: &[Operation],
    key: &str,
    linearized: &[usize],
    stuck: usize,
    value: Option<&str>,
) -> String {
    let mut text = format!(
        "key {key:?} is not linearizable (#N: the N-th operation of the history; \
         times in ms since its start).\n\
         The longest linearizable part found has {} of the key's {} operations; it ends with:\n",
        linearized.len(),
        history.iter().filter(|op| op.key == key).count(),
    );
    for &op in &linearized[linearized.len().saturating_sub(SHOWN)..] {
        let _ = writeln!(text, "  {}", describe(op, &history[op]));
    }
    let _ = writeln!(
        text,
        "leaving the value {value:?}. This operation had returned but could not take \
         effect next, in any order with the others pending:\n  {}",
        describe(stuck, &history[stuck])
    );
    let stuck_ret = history[stuck].ret.unwrap_or(u64::MAX);
    let linearized: HashSet<usize> = linearized.iter().copied().collect();
    let pending: Vec<usize> = (0..history.len())
        .filter(|&op| {
            op != stuck
                && history[op].key == key
                && history[op].call <= stuck_ret
                && !linearized.contains(&op)
        })
        .collect();
    if pending.is_empty() {
        text.push_str("No other operation was pending.\n");
    } else {
        let _ = writeln!(text, "The others pending ({}):", pending.len());
    }
    for &op in pending.iter().take(SHOWN) {
        let _ = writeln!(text, "  {}", describe(op, &history[op]));
    }
    text
}

/// `#7 client 2 [1.250, 1.300] Write("a") -> Ok`, or `-> ?` and `...` for
/// an unknown outcome.
fn describe(index: usize, op: &Operation) -> String {
    let ms = |nanos: u64| format!("{:.3}", nanos as f64 / 1e6);
    let ret = op.ret.map_or_else(|| "...".to_owned(), ms);
    let output = op
        .output
        .as_ref()
        .map_or_else(|| "?".to_owned(), |o| format!("{o:?}"));
    format!(
        "#{index} client {} [{}, {ret}] {:?} -> {output}",
        op.client,
        ms(op.call),
        op.input
    )
}
