//! Driving a run, whatever the engine: the [`Engine`] trait, the state the
//! workers of one run share ([`Run`]), the preload, the measured run and
//! its progress line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::plan::{Answer, Fault, Plan};
use super::report::Tally;
use super::{Op, POLL_EVERY, PROGRESS_EVERY, START_POLL};
use crate::exit::Failure;
use crate::human::thousands;

/// A way to send the requests of a run: the event-driven engine or the
/// blocking one.
pub(crate) trait Engine: Sync {
    /// `event` or `blocking`, for the report.
    fn name(&self) -> &'static str;

    /// How many threads serve `connections` connections (at least one,
    /// at most `connections`).
    fn threads(&self, connections: usize) -> usize;

    /// Serves `connections` connections of `run` on the calling thread:
    /// opens them, says so ([`Run::opened`]), waits for the start
    /// ([`Run::wait_for_go`]), then sends what [`Run::next`] hands out
    /// and records it ([`Run::record`]) until it hands out nothing.
    /// Returns what the connections measured.
    ///
    /// # Errors
    ///
    /// The thread cannot do its work at all (no runtime); it still says
    /// its connections were opened, so the run is not held up.
    fn work(&self, run: &Arc<Run>, connections: usize) -> std::io::Result<Tally>;
}

/// What the workers of one run (the preload or the measured run) share
/// with each other and the main thread.
#[derive(Debug)]
pub(crate) struct Run {
    plan: Arc<Plan>,
    /// Preloading: request `n` sets key `n`, and the first failure stops
    /// the run.
    preload: bool,
    /// How many requests to send at most.
    limit: u64,
    /// Requests handed out (it goes past `limit` at the end).
    issued: AtomicU64,
    failed: AtomicU64,
    /// Connections opened, ready to start.
    opened: AtomicUsize,
    go: AtomicBool,
    stop: AtomicBool,
}

impl Run {
    pub(crate) fn new(plan: Arc<Plan>, preload: bool, limit: u64) -> Self {
        Run {
            plan,
            preload,
            limit,
            issued: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            opened: AtomicUsize::new(0),
            go: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Says that `connections` more connections are ready.
    pub(crate) fn opened(&self, connections: usize) {
        self.opened.fetch_add(connections, Ordering::AcqRel);
    }

    /// Blocks until every connection is open and the clock starts.
    pub(crate) fn wait_for_go(&self) {
        while !self.go.load(Ordering::Acquire) {
            std::thread::sleep(START_POLL);
        }
    }

    /// The operation and key of the next request, or `None` when the run
    /// is over.
    pub(crate) fn next(&self) -> Option<(Op, u64)> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        if n >= self.limit {
            None
        } else if self.preload {
            Some((Op::Set, n))
        } else {
            Some((self.plan.op(n), self.plan.key(n)))
        }
    }

    /// Counts one request that took `took` in `tally`.
    pub(crate) fn record(
        &self,
        tally: &mut Tally,
        op: Op,
        took: Duration,
        result: Result<Answer, Fault>,
    ) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if self.preload {
                self.stop.store(true, Ordering::Relaxed);
            }
        }
        tally.record(op, took, result);
    }

    /// Requests handed out so far.
    fn count(&self) -> u64 {
        self.issued.load(Ordering::Relaxed).min(self.limit)
    }

    /// Ends the run: the workers stop after their current request (and
    /// start at once if they were waiting).
    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.go.store(true, Ordering::Release);
    }
}

/// Writes every key once, on up to `connections` connections, with a
/// progress line every second. Returns the first failure, if any (the
/// preload stops at it).
pub(crate) fn preload(
    engine: &dyn Engine,
    plan: &Arc<Plan>,
    connections: usize,
    err: &mut dyn Write,
) -> Result<Option<String>, Failure> {
    let keys = plan.keys;
    let started = Instant::now();
    let run = Arc::new(Run::new(plan.clone(), true, keys));
    let connections = connections.min(usize::try_from(keys).unwrap_or(usize::MAX));
    let (_, tally) = drive(engine, &run, connections, None, err)?;
    if let Some(first) = tally.first_error() {
        return Ok(Some(first.to_owned()));
    }
    writeln!(
        err,
        "bench: preloaded {} keys in {:.1} s",
        thousands(keys),
        started.elapsed().as_secs_f64()
    )?;
    Ok(None)
}

/// Runs `run` on `connections` connections of `engine`: every connection
/// opens, then all start together and send until `run` hands out no more
/// requests or `duration` is over, with a progress line on `err` every
/// second. Returns the time from the start to the last answer, and the
/// merged tallies.
pub(crate) fn drive(
    engine: &dyn Engine,
    run: &Arc<Run>,
    connections: usize,
    duration: Option<Duration>,
    err: &mut dyn Write,
) -> Result<(Duration, Tally), Failure> {
    let threads = engine.threads(connections).clamp(1, connections);
    std::thread::scope(|scope| -> Result<(Duration, Tally), Failure> {
        let mut workers = Vec::with_capacity(threads);
        for index in 0..threads {
            // The connections, spread evenly.
            let share = connections / threads + usize::from(index < connections % threads);
            let name = if run.preload {
                "bench-preload"
            } else {
                "bench"
            };
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn_scoped(scope, move || (engine.work(run, share), Instant::now()));
            match spawned {
                Ok(worker) => workers.push(worker),
                Err(e) => {
                    run.halt();
                    return Err(e.into());
                }
            }
        }
        let running = |workers: &[std::thread::ScopedJoinHandle<'_, _>]| {
            workers.iter().any(|worker| !worker.is_finished())
        };
        while run.opened.load(Ordering::Acquire) < connections && running(&workers) {
            std::thread::sleep(START_POLL);
        }
        run.go.store(true, Ordering::Release);
        let started = Instant::now();
        let deadline = duration.map(|d| started + d);
        let mut next_progress = started + PROGRESS_EVERY;
        let mut last_count = 0;
        while running(&workers) {
            std::thread::sleep(POLL_EVERY);
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                run.halt();
            }
            if now >= next_progress && !run.stop.load(Ordering::Relaxed) {
                // Progress is a diagnostic: a stderr that cannot be written
                // must not stop the run halfway (the workers would go on).
                let _ = progress(run, err, next_progress - started, last_count);
                last_count = run.count();
                next_progress += PROGRESS_EVERY;
            }
        }
        let mut tally = Tally::new();
        let mut last_answer = started;
        let mut failure = None;
        for worker in workers {
            match worker.join() {
                Ok((Ok(worker_tally), finished)) => {
                    tally.merge(worker_tally);
                    last_answer = last_answer.max(finished);
                }
                Ok((Err(e), _)) => failure = Some(e),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok((last_answer - started, tally)),
        }
    })
}

/// The progress line of `run`, `at` after its start; `before` requests
/// were handed out a second earlier.
fn progress(run: &Run, err: &mut dyn Write, at: Duration, before: u64) -> std::io::Result<()> {
    let count = run.count();
    if run.preload {
        return writeln!(
            err,
            "bench: preloading, {} of {} keys",
            thousands(count),
            thousands(run.limit)
        );
    }
    let rate = (count - before) as f64 / PROGRESS_EVERY.as_secs_f64();
    writeln!(
        err,
        "bench: {:>3.0} s, {} req/s, {} requests, {} errors",
        at.as_secs_f64(),
        thousands(rate.round() as u64),
        thousands(count),
        thousands(run.failed.load(Ordering::Relaxed))
    )
}
