//! [`Operation`], one entry of a history, and [`History`], a thread-safe
//! recorder of them on one monotonic clock.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::model::{Input, Output};
use super::{check, CheckResult};

/// One operation of a history: who asked what on which key, when, and what
/// came back.
///
/// Times are nanoseconds on one monotonic clock shared by every client
/// (such as [`History`]'s). `call` must be taken before the request leaves
/// and `ret` after the answer arrived: the checker assumes the operation
/// took effect at one instant in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Which client (thread, connection) issued it; only for explanations.
    pub client: usize,
    /// The key it works on.
    pub key: String,
    /// What was asked.
    pub input: Input,
    /// What came back, or `None` when that is unknown (a timeout, a 504
    /// `outcome_unknown`): any answer is then accepted.
    pub output: Option<Output>,
    /// When it was called.
    pub call: u64,
    /// When it returned, or `None` when it may take effect at any time after
    /// its call, even after every other operation: for an outcome that is
    /// unknown, since the request may still be applied after the client gave
    /// up. Taking effect after everything else looks the same as never
    /// taking effect, so such an operation may or may not have happened.
    pub ret: Option<u64>,
}

/// Which operation of a [`History`] a [`History::call`] recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpId(usize);

/// A history being recorded by concurrent clients: each calls
/// [`call`](Self::call) just before sending a request and
/// [`finish`](Self::finish) (or [`unknown`](Self::unknown)) once it knows
/// the outcome. Times are nanoseconds since the history was created.
#[derive(Debug)]
pub struct History {
    start: Instant,
    operations: Mutex<Vec<Operation>>,
}

impl Default for History {
    fn default() -> History {
        History::new()
    }
}

impl History {
    /// An empty history whose clock starts now.
    pub fn new() -> History {
        History {
            start: Instant::now(),
            operations: Mutex::new(Vec::new()),
        }
    }

    /// Records that `client` is about to ask `input` on `key`, now. Until
    /// it is finished, its outcome is unknown.
    pub fn call(&self, client: usize, key: impl Into<String>, input: Input) -> OpId {
        let key = key.into();
        let call = self.now();
        let mut operations = self.lock();
        operations.push(Operation {
            client,
            key,
            input,
            output: None,
            call,
            ret: None,
        });
        OpId(operations.len() - 1)
    }

    /// Records that operation `id` returned `output`, now.
    ///
    /// # Panics
    ///
    /// When `id` was already finished.
    pub fn finish(&self, id: OpId, output: Output) {
        let ret = self.now();
        let mut operations = self.lock();
        let operation = &mut operations[id.0];
        assert!(operation.ret.is_none(), "{operation:?} finished twice");
        operation.output = Some(output);
        operation.ret = Some(ret);
    }

    /// Records that the outcome of operation `id` is unknown (a timeout, a
    /// 504 `outcome_unknown`): it may take effect at any time after its
    /// call, or never. This changes nothing, as an operation never finished
    /// is unknown too, but says so where the client gives up.
    ///
    /// # Panics
    ///
    /// When `id` was already finished.
    pub fn unknown(&self, id: OpId) {
        let operations = self.lock();
        let operation = &operations[id.0];
        assert!(operation.ret.is_none(), "{operation:?} was finished");
    }

    /// A copy of the operations recorded so far, in the order of their calls
    /// to [`call`](Self::call).
    pub fn operations(&self) -> Vec<Operation> {
        self.lock().clone()
    }

    /// Whether the operations recorded so far are linearizable (see
    /// [`check`]).
    pub fn check(&self) -> CheckResult {
        check(&self.operations())
    }

    /// Nanoseconds since the history was created.
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// The operations, even if a client panicked while holding the lock.
    fn lock(&self) -> MutexGuard<'_, Vec<Operation>> {
        self.operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
