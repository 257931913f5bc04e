//! The commit pipeline: the single writer thread.
//!
//! Handlers [`submit`](CommitPipeline::submit) commands into a queue. The
//! writer takes everything queued (up to a batch limit) and hands it to its
//! [`BatchSink`] as one batch: on a single node,
//! [`LocalCommit`](crate::commit::local::LocalCommit) evaluates it against
//! the store, appends it to the log, applies it and answers each waiting
//! handler; in replicated mode the
//! [`Proposer`](crate::cluster::proposer::Proposer) sends it to the
//! replicated log and the answers come once it is applied. One writer means
//! one revision order, no write-write locking, and one log append (and one
//! sync) per batch however many handlers are waiting: group commit.
//!
//! Handlers do not wake the writer one by one. The first command of an
//! event-loop turn collects the commands submitted on its thread during
//! that turn (`gathering`) and sends them as one
//! message: one wake-up of the writer per turn instead of per command. A
//! profile of `POST /set` under wrk found the writer woken every five
//! commands, two futex calls and a context switch each time.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;

use kv_core::{Command, Outcome};
use log::{debug, error, info};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::commit::gathering::{take_all, Gatherings, Role, ThreadGathering};
use crate::error::ServerError;

/// What a submitter gets back: the command's outcome, or why it failed.
pub type Reply = Result<Outcome, ServerError>;

/// Work run on the writer thread while no write is in progress.
pub type Exclusive = Box<dyn FnOnce() + Send>;

/// A command, where its outcome goes, and its place in the in-flight
/// bound (given back once it is answered).
#[derive(Debug)]
pub struct Submission {
    /// The command.
    pub command: Command,
    /// Where its outcome goes.
    pub reply: oneshot::Sender<Reply>,
    /// Its place in `--queue-depth`, held until it is answered.
    pub permit: OwnedSemaphorePermit,
    /// The client's `Idempotency-Key`: such a command is never batched
    /// with others (replicated mode uses the key as the message id).
    pub idempotency_key: Option<String>,
}

/// What the writer thread does with each batch it gathers.
pub trait BatchSink: Send {
    /// Commits `batch` (draining it) and answers, or arranges for the
    /// answers to come.
    fn commit(&mut self, batch: &mut Vec<Submission>);

    /// Runs `job` where no write is being applied while it runs.
    fn run_exclusive(&mut self, job: Exclusive) {
        job();
    }

    /// Whether a batch costs a sync, so that larger ones are worth a short
    /// wait.
    fn waits_for_more(&self) -> bool {
        false
    }

    /// Finishes what is in progress; called once, when the writer stops.
    fn close(&mut self);
}

enum Message {
    /// Commands to commit, in order.
    Submit(Vec<Submission>),
    /// Commit everything queued before this, then run it.
    Exclusive(Exclusive),
    /// Commit everything queued before this, then stop.
    Stop,
}

/// Handle on the writer thread. Shared by all handlers (it lives in
/// [`Service`](crate::Service)).
#[derive(Debug)]
pub struct CommitPipeline {
    queue: mpsc::UnboundedSender<Message>,
    /// Commands submitted but not yet answered, at most `queue_depth`:
    /// the queue itself is unbounded, this is its back-pressure.
    in_flight: Arc<Semaphore>,
    /// Commands of the current event-loop turn of each thread, not yet sent.
    gatherings: Gatherings,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Submit(batch) => f.debug_tuple("Submit").field(&batch.len()).finish(),
            Message::Exclusive(_) => f.write_str("Exclusive"),
            Message::Stop => f.write_str("Stop"),
        }
    }
}

impl CommitPipeline {
    /// Starts the writer thread, which hands every batch to `sink`.
    ///
    /// # Errors
    ///
    /// The thread could not be spawned.
    pub fn start(
        sink: Box<dyn BatchSink>,
        max_batch: usize,
        queue_depth: usize,
    ) -> io::Result<Self> {
        let (queue, receiver) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("kv-writer".into())
            .spawn(move || write_loop(sink, receiver, max_batch.max(1)))?;
        Ok(Self {
            queue,
            in_flight: Arc::new(Semaphore::new(queue_depth.clamp(1, Semaphore::MAX_PERMITS))),
            gatherings: Gatherings::new(max_batch),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Sends `submissions` to the writer.
    fn send(&self, submissions: Vec<Submission>) {
        if !submissions.is_empty() {
            // Fails only once the writer has stopped: dropping the replies
            // answers each submitter with 503.
            let _ = self.queue.send(Message::Submit(submissions));
        }
    }

    /// Queues `command` from a thread outside the async runtime without
    /// waiting for its outcome (the expiry scheduler does this); blocks
    /// while `--queue-depth` commands are in flight. Returns `false` once
    /// the pipeline has stopped.
    pub fn submit_detached(&self, command: Command) -> bool {
        let Ok(permit) = block_on(Arc::clone(&self.in_flight).acquire_owned()) else {
            return false;
        };
        let (reply, _ignored) = oneshot::channel();
        self.queue
            .send(Message::Submit(vec![Submission {
                command,
                reply,
                permit,
                idempotency_key: None,
            }]))
            .is_ok()
    }

    /// Queues `command` and waits until it is committed (or refused).
    ///
    /// # Errors
    ///
    /// [`ServerError::Unavailable`] when the pipeline has stopped or the batch
    /// could not be made durable; the command's own validation error otherwise.
    pub async fn submit(&self, command: Command) -> Result<Outcome, ServerError> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| stopped())?;
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            command,
            reply,
            permit,
            idempotency_key: None,
        };
        let here = self.gatherings.here::<Submission>();
        let (full, role) = self.gatherings.push(&here, submission);
        if let Some(submissions) = full {
            self.send(submissions);
        }
        if role == Role::Collect {
            // Sends on drop, so the turn's commands go even if this
            // request is cancelled while it yields.
            let _sender = SendGathered(self, here);
            tokio::task::yield_now().await;
        }
        answer.await.map_err(|_| stopped())?
    }

    /// Like [`submit`](Self::submit), for a request that carries an
    /// `Idempotency-Key`: the command goes alone (not gathered with others),
    /// and in replicated mode the key is its message id, so that a retry
    /// of the request is committed once.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub async fn submit_idempotent(
        &self,
        command: Command,
        key: String,
    ) -> Result<Outcome, ServerError> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| stopped())?;
        let (reply, answer) = oneshot::channel();
        self.send(vec![Submission {
            command,
            reply,
            permit,
            idempotency_key: Some(key),
        }]);
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `work` on the writer thread after everything queued so far is
    /// committed (commands still gathering in an event loop, not yet
    /// acknowledged, may come after), with no write in progress until it
    /// returns: whatever it reads of the store is one consistent revision. Writers wait meanwhile,
    /// so `work` must be short (a copy, not I/O).
    ///
    /// # Errors
    ///
    /// [`ServerError::Unavailable`] when the pipeline has stopped.
    pub async fn exclusive<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ServerError> {
        let (reply, answer) = oneshot::channel();
        let job: Exclusive = Box::new(move || {
            let _ = reply.send(work());
        });
        self.queue
            .send(Message::Exclusive(job))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())
    }

    /// Commits everything queued so far, then stops the writer and waits for
    /// it. Later submissions fail with 503. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(thread) = thread else {
            return;
        };
        // Commands gathered on this thread but not yet sent are committed
        // before it stops (other threads' collectors send theirs when they
        // resume, and get 503 if that is after the stop).
        self.send(take_all(&self.gatherings.here::<Submission>()));
        self.in_flight.close();
        // Fails only if the writer is already gone, which join reports.
        let _ = self.queue.send(Message::Stop);
        match actix_web::rt::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            _ => error!("the writer thread panicked"),
        }
    }
}

/// Sends a thread's gathered commands when dropped.
struct SendGathered<'a>(&'a CommitPipeline, ThreadGathering<Submission>);

impl Drop for SendGathered<'_> {
    fn drop(&mut self) {
        self.0.send(take_all(&self.1));
    }
}

/// Runs `future` to completion on this (non-async) thread, parking it
/// between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

fn stopped() -> ServerError {
    ServerError::Unavailable("the server is shutting down and takes no more writes".into())
}

fn write_loop(
    mut sink: Box<dyn BatchSink>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    max_batch: usize,
) {
    let mut batch: Vec<Submission> = Vec::with_capacity(max_batch);
    // Commands that did not fit in the last batch.
    let mut carried = None;
    let mut stopping = false;
    while !stopping {
        let first = match carried.take() {
            Some(submissions) => Message::Submit(submissions),
            None => match receiver.blocking_recv() {
                Some(message) => message,
                None => break,
            },
        };
        let mut exclusive = None;
        let mut yielded = false;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Submit(more)
                    if !batch.is_empty() && batch.len() + more.len() > max_batch =>
                {
                    carried = Some(more);
                    break;
                }
                Message::Submit(more) => batch.extend(more),
                Message::Exclusive(job) => exclusive = Some(job),
                Message::Stop => stopping = true,
            }
            if !stopping && exclusive.is_none() && batch.len() < max_batch {
                next = receiver.try_recv().ok();
                if next.is_none() && !yielded && sink.waits_for_more() {
                    // A sync costs the same for one write as for fifty: let
                    // a worker waiting for this core run and submit what it
                    // is about to, then look again (with both cores busy,
                    // as under load, one usually is).
                    yielded = true;
                    std::thread::yield_now();
                    next = receiver.try_recv().ok();
                }
            }
        }
        if !batch.is_empty() {
            debug!("committing a batch of {}", batch.len());
            sink.commit(&mut batch);
            batch.clear();
        }
        if let Some(job) = exclusive {
            sink.run_exclusive(job);
        }
    }
    sink.close();
    info!("commit pipeline stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::clock::now_ms;
    use crate::commit::local::{Downstream, LocalCommit};
    use crate::storage::commit_log::{CommitLog, MemoryOnly};
    use kv_core::{Batch, Limits, Store, StoreWriter};
    use kv_pubsub::{in_process, RingLimits};
    use std::time::Duration;

    fn start(writer: StoreWriter, log: Box<dyn CommitLog>) -> CommitPipeline {
        let downstream = Downstream {
            feed: in_process(RingLimits::default(), 0),
            expiry: Arc::default(),
        };
        let sink = LocalCommit::new(writer, log, downstream);
        CommitPipeline::start(Box::new(sink), 8, 8).expect("starts")
    }

    struct FailingLog;

    impl CommitLog for FailingLog {
        fn commit(&mut self, _batch: &Batch) -> io::Result<()> {
            Err(io::Error::other("disk on fire"))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        actix_web::rt::System::new().block_on(f)
    }

    #[test]
    fn commits_and_stops_cleanly() {
        let (store, writer) = Store::new(2, Limits::default()).expect("valid");
        let pipeline = start(writer, Box::new(MemoryOnly));
        let outcome = block_on(pipeline.submit(Command::set("k", "v"))).expect("committed");
        assert_eq!(outcome, Outcome::Set { rev: 1, prev: None });
        assert_eq!(store.revision(), 1);
        block_on(pipeline.shutdown());
        block_on(pipeline.shutdown());
        let after = block_on(pipeline.submit(Command::rm("k")));
        assert!(
            matches!(after, Err(ServerError::Unavailable(_))),
            "{after:?}"
        );
    }

    /// A log that records the size of every batch it is handed.
    #[derive(Default)]
    struct RecordingLog(Arc<Mutex<Vec<usize>>>);

    impl CommitLog for RecordingLog {
        fn commit(&mut self, batch: &Batch) -> io::Result<()> {
            self.0
                .lock()
                .expect("not poisoned")
                .push(batch.outcomes.len());
            Ok(())
        }
    }

    #[test]
    fn a_turn_commits_what_the_queue_depth_lets_in_and_the_rest_waits() {
        let (store, writer) = Store::new(2, Limits::default()).expect("valid");
        let log = RecordingLog::default();
        let batches = Arc::clone(&log.0);
        let pipeline = Arc::new(start(writer, Box::new(log)));
        block_on(async {
            let tasks: Vec<_> = (0..10)
                .map(|i| {
                    let pipeline = Arc::clone(&pipeline);
                    actix_web::rt::spawn(async move {
                        pipeline.submit(Command::set(format!("k{i}"), "v")).await
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("joined").expect("committed");
            }
        });
        // The queue depth is 8: the first turn gathers 8 and the last two
        // wait for room.
        let batches = batches.lock().expect("not poisoned").clone();
        assert_eq!((batches[0], batches.iter().sum::<usize>()), (8, 10));
        assert_eq!(store.len(), 10);
        block_on(pipeline.shutdown());
    }

    #[test]
    fn a_cancelled_collector_still_sends_its_turn() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let (store, writer) = Store::new(2, Limits::default()).expect("valid");
        let pipeline = start(writer, Box::new(MemoryOnly));
        let mut context = Context::from_waker(Waker::noop());
        // The collector yields; a second command joins its turn; then the
        // collector's request is dropped.
        let mut collector = Box::pin(pipeline.submit(Command::set("a", "1")));
        assert!(collector.as_mut().poll(&mut context).is_pending());
        let follower = pipeline.submit(Command::set("b", "2"));
        let mut follower = std::pin::pin!(follower);
        assert!(follower.as_mut().poll(&mut context).is_pending());
        drop(collector);
        let outcome =
            block_on(async { tokio::time::timeout(Duration::from_secs(10), follower).await })
                .expect("the follower's command was sent when the collector was dropped")
                .expect("committed");
        assert_eq!(outcome, Outcome::Set { rev: 2, prev: None });
        // The dropped request's write is committed all the same.
        assert!(store.get("a", now_ms()).expect("valid").is_some());
        block_on(pipeline.shutdown());
        assert!(matches!(
            block_on(pipeline.submit(Command::rm("a"))),
            Err(ServerError::Unavailable(_))
        ));
    }

    #[test]
    fn a_failed_log_write_applies_nothing() {
        let (store, writer) = Store::new(2, Limits::default()).expect("valid");
        let pipeline = start(writer, Box::new(FailingLog));
        let result = block_on(pipeline.submit(Command::set("k", "v")));
        assert!(
            matches!(result, Err(ServerError::StorageFailed(_))),
            "{result:?}"
        );
        assert_eq!(store.get("k", now_ms()), Ok(None));
        assert_eq!(store.revision(), 0);
        block_on(pipeline.shutdown());
    }
}
