//! Replicated mode (`--cluster`): several servers, one history, on a NATS
//! JetStream stream.
//!
//! The stream is the log and every server is a replica of the state
//! machine it drives. A server's commit pipeline turns each group-commit
//! batch into one message ([`proposer`]); every replica, the proposer
//! included, applies the messages in log order with the same kv-core code
//! ([`applier`]), so revisions, conditions and expiries agree everywhere.
//! A write is answered once the log acknowledged its message and this
//! replica applied it ([`pending`]). Reads are served from the local
//! replica; a consistent read first learns the log's last sequence and
//! waits until it is applied here ([`barrier`]). Each replica snapshots its
//! state with the sequence it covers; a shared snapshot lets an empty
//! replica join and the log be trimmed ([`snapshots`]).
//!
//! - [`proposer`]: the pipeline's sink: batches become log messages.
//! - [`applier`]: the thread that applies the log to the store.
//! - [`pending`]: proposals waiting for their acknowledgement and outcome.
//! - [`barrier`]: the log's last sequence, for consistent reads.
//! - [`publisher`]: which replica mirrors the feed to NATS, decided
//!   through the log.
//! - [`snapshots`]: local and shared snapshots, and trimming.
//! - [`status`]: where this replica is, for `/v1/status` and `/readyz`.
//!
//! Uses kv-pubsub's [`ReplicatedLog`] and [`SnapshotStore`] traits; only
//! this file names their NATS implementations.

pub mod applier;
pub mod barrier;
pub mod pending;
pub mod proposer;
pub mod publisher;
pub mod snapshots;
pub mod status;

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use kv_core::api::ProbeResponse;
use kv_core::{Limits, Store, StoreWriter};
use kv_pubsub::nats::{JetStreamLog, JetStreamSettings, ObjectSnapshots, PublishTurn};
use kv_pubsub::replicated::{LogBounds, LogError, ReplicatedLog, SnapshotStore};
use log::{info, warn};

use crate::cluster::applier::Applier;
use crate::cluster::barrier::Barrier;
use crate::cluster::pending::Pending;
use crate::cluster::proposer::{Proposer, ProposerParts};
use crate::cluster::publisher::{Lease, PublisherLease};
use crate::cluster::snapshots::{log_covers, SnapshotMeta, Snapshotter};
use crate::cluster::status::ReplicaStatus;
use crate::commit::local::Downstream;
use crate::error::ServerError;
use crate::storage::{DataDir, StorageError};

/// How often an unreachable cluster is tried again at start.
const CONNECT_RETRY: Duration = Duration::from_secs(1);
/// How often progress is logged while catching up.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Replicated mode's settings, from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The log: NATS servers, stream, replicas, timeouts.
    pub log: JetStreamSettings,
    /// How long a write may wait for a quorum.
    pub timeout: Duration,
    /// Log messages between snapshots.
    pub snapshot_every: u64,
    /// `/readyz` fails past this many messages behind.
    pub max_lag: u64,
    /// The data directory; `None` keeps the replica in memory (it joins
    /// from the shared snapshot at every start).
    pub data_dir: Option<PathBuf>,
    /// The key and value limits (the same on every replica).
    pub limits: Limits,
}

/// A replica whose state is loaded up to a log sequence, ready to start.
#[derive(Debug)]
pub struct Restored {
    settings: ClusterSettings,
    log: Arc<dyn ReplicatedLog>,
    shared: Arc<dyn SnapshotStore>,
    dir: Option<Arc<DataDir>>,
    /// The last message the loaded state covers.
    seq: u64,
    /// The log time that state reached.
    time_ms: u64,
    /// The log's last message when the replica started: caught up there.
    target: u64,
}

/// Retries `attempt` while the cluster is unreachable (the server says
/// `recovering` meanwhile); any other error ends the start.
fn until_reachable<T>(
    what: &str,
    mut attempt: impl FnMut() -> Result<T, LogError>,
) -> Result<T, StorageError> {
    let mut logged = None::<Instant>;
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(LogError::Unavailable(e)) => {
                if logged.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                    warn!("{what}: {e}; trying again");
                    logged = Some(Instant::now());
                }
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(e) => return Err(StorageError::Config(format!("{what}: {e}"))),
        }
    }
}

/// Connects to the cluster and loads this replica's state: its local
/// snapshot, or the shared one when the log no longer holds what follows
/// the local one (or there is none), or nothing for a log that was never
/// trimmed.
///
/// # Errors
///
/// The data directory is locked or belongs to a single node or another
/// stream, a snapshot is damaged, or no snapshot covers what the log lost.
pub fn restore(
    settings: ClusterSettings,
    writer: &mut StoreWriter,
) -> Result<Restored, StorageError> {
    let dir = match &settings.data_dir {
        None => None,
        Some(path) => Some(Arc::new(open_replica_dir(path)?)),
    };
    let stream = settings.log.stream.clone();
    info!("replicated mode: stream {stream} on {}", settings.log.urls);
    let log = until_reachable("connecting to the cluster", || {
        JetStreamLog::connect(settings.log.clone())
    })?;
    let shared = until_reachable("opening the snapshot bucket", || {
        ObjectSnapshots::open(&log, &stream, settings.log.replicas)
    })?;
    let bounds = until_reachable("reading the log's bounds", || log.bounds())?;
    let local = match &dir {
        Some(dir) => snapshots::local_meta(dir, &stream)?,
        None => None,
    };
    let start = load_state(dir.as_deref(), local, &shared, bounds, writer)?;
    let max_message = log.max_message_bytes();
    let limits = settings.limits;
    if max_message < limits.max_value_bytes + limits.max_key_bytes + 4096 {
        warn!(
            "the NATS servers take messages of at most {max_message} bytes: writes of values \
             near --max-value-bytes ({}) will be refused; raise max_payload in nats-server's \
             configuration (8MB in docker/nats-cluster.conf)",
            limits.max_value_bytes
        );
    }
    Ok(Restored {
        log: Arc::new(log),
        shared: Arc::new(shared),
        dir,
        seq: start.seq,
        time_ms: start.time_ms,
        target: bounds.last_seq,
        settings,
    })
}

/// The data directory of a replica: never one a single node wrote.
fn open_replica_dir(path: &Path) -> Result<DataDir, StorageError> {
    let dir = DataDir::open(path)?;
    if !dir.segments()?.is_empty() || !dir.snapshots()?.is_empty() {
        return Err(StorageError::Config(format!(
            "{} holds a single-node store: a replica needs a directory of its own",
            path.display()
        )));
    }
    Ok(dir)
}

/// Where the loaded state stands.
struct Start {
    seq: u64,
    time_ms: u64,
}

fn load_state(
    dir: Option<&DataDir>,
    local: Option<SnapshotMeta>,
    shared: &ObjectSnapshots,
    bounds: LogBounds,
    writer: &mut StoreWriter,
) -> Result<Start, StorageError> {
    if let Some(meta) = &local {
        if meta.seq > bounds.last_seq {
            return Err(StorageError::Config(format!(
                "this replica's snapshot covers log sequence {}, but the stream ends at {}: \
                 the stream was recreated or belongs to another cluster; move the data \
                 directory away to join afresh",
                meta.seq, bounds.last_seq
            )));
        }
    }
    match local {
        Some(meta) if log_covers(bounds, meta.seq) => {
            if let Some(dir) = dir {
                snapshots::load_local(dir, &meta, writer)?;
            }
            info!(
                "loaded the local snapshot at log sequence {} (revision {})",
                meta.seq, meta.rev
            );
            Ok(Start {
                seq: meta.seq,
                time_ms: meta.time_ms,
            })
        }
        _ if log_covers(bounds, 0) => Ok(Start { seq: 0, time_ms: 0 }),
        _ => {
            let (meta, bytes) = snapshots::download_shared(shared, dir)?.ok_or_else(|| {
                StorageError::Config(format!(
                    "the log starts at sequence {} and no shared snapshot covers what came \
                     before",
                    bounds.first_seq
                ))
            })?;
            if !log_covers(bounds, meta.seq) {
                return Err(StorageError::Config(format!(
                    "the shared snapshot covers log sequence {}, but the log starts at {}",
                    meta.seq, bounds.first_seq
                )));
            }
            snapshots::load(&bytes, Path::new("shared snapshot"), &meta, writer)?;
            info!(
                "joined from the shared snapshot at log sequence {} (revision {}, {} keys)",
                meta.seq, meta.rev, meta.entries
            );
            Ok(Start {
                seq: meta.seq,
                time_ms: meta.time_ms,
            })
        }
    }
}

/// The running replica, as the routes see it.
#[derive(Debug)]
pub struct Cluster {
    node: u64,
    stream: String,
    lease: Arc<Mutex<Lease>>,
    status: Arc<ReplicaStatus>,
    barrier: Barrier,
    timeout: Duration,
    max_lag: u64,
}

/// This server's id in the log: random for each process.
fn new_node_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

impl Restored {
    /// Starts the applier (which takes `writer`) and the proposer (the
    /// pipeline's sink), then waits until this replica has applied the log
    /// as it stood at the start.
    ///
    /// # Errors
    ///
    /// A thread could not be started, or the replica failed while catching
    /// up.
    pub fn start(
        self,
        writer: StoreWriter,
        downstream: Downstream,
        publishing: Option<Arc<PublishTurn>>,
    ) -> Result<(Cluster, Proposer), StorageError> {
        let node = new_node_id();
        let lease = Arc::new(Mutex::new(Lease::default()));
        let lease_view = Arc::clone(&lease);
        let feed = Arc::clone(&downstream.feed);
        let status = Arc::new(ReplicaStatus::new(self.seq));
        status.saw(self.target);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (jobs, job_queue) = mpsc::channel();
        let store = writer.store();
        let applier = Applier {
            node,
            writer,
            downstream,
            pending: Arc::clone(&pending),
            status: Arc::clone(&status),
            reader: self.log.reader(self.seq + 1),
            time_ms: self.time_ms,
            snapshots: Snapshotter {
                dir: self.dir,
                shared: self.shared,
                log: Arc::clone(&self.log),
                stream: self.settings.log.stream.clone(),
                every: self.settings.snapshot_every.max(1),
                last_seq: self.seq,
                busy: Arc::default(),
            },
            lease: Arc::clone(&lease),
        }
        .start(job_queue)
        .map_err(StorageError::io("cannot start the applier thread"))?;
        let mut applier = applier;
        if let Some(turn) = publishing {
            let thread = PublisherLease {
                node,
                log: Arc::clone(&self.log),
                lease,
                turn,
                feed,
                status: Arc::clone(&status),
            }
            .start(applier.stop_flag())
            .map_err(StorageError::io("cannot start the publisher lease"))?;
            applier.add_companion(thread);
        }
        let proposer = Proposer::start(
            ProposerParts {
                node,
                log: Arc::clone(&self.log),
                pending,
                limits: self.settings.limits,
                timeout: self.settings.timeout,
                applier_jobs: jobs,
            },
            applier,
        )
        .map_err(StorageError::io("cannot start the proposer"))?;
        let barrier = Barrier::start(Arc::clone(&self.log))
            .map_err(StorageError::io("cannot start the read barrier"))?;
        catch_up(&status, &store, self.target)?;
        status.set_caught_up();
        Ok((
            Cluster {
                node,
                stream: self.settings.log.stream,
                lease: lease_view,
                status,
                barrier,
                timeout: self.settings.timeout,
                max_lag: self.settings.max_lag,
            },
            proposer,
        ))
    }
}

/// Waits until the replica has applied message `target`.
fn catch_up(status: &ReplicaStatus, store: &Store, target: u64) -> Result<(), StorageError> {
    let started = Instant::now();
    let mut logged = Instant::now();
    while status.applied_seq() < target {
        if let Some(failure) = status.failure() {
            return Err(StorageError::Config(failure));
        }
        if logged.elapsed() >= PROGRESS_EVERY {
            info!(
                "catching up: log sequence {} of {target} (revision {})",
                status.applied_seq(),
                store.revision()
            );
            logged = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    info!(
        "caught up with the log at sequence {target} in {:?}",
        started.elapsed()
    );
    Ok(())
}

/// Where a replica stands, for `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    /// This server's id in the log, in hex.
    pub node: String,
    /// The stream.
    pub stream: String,
    /// The last message applied here.
    pub applied_seq: u64,
    /// The log's last message (asked of the log; the last known one when
    /// it does not answer).
    pub stream_seq: u64,
    /// Messages not applied here yet.
    pub lag: u64,
    /// The replica that publishes the feed to NATS, when one does.
    pub publisher: Option<String>,
}

impl Cluster {
    /// Waits until this replica has applied everything the log held when
    /// the call began: what is read next is linearizable.
    ///
    /// # Errors
    ///
    /// [`ServerError::ClusterUnavailable`] when the log does not answer or
    /// this replica does not catch up within `--cluster-timeout-ms`.
    pub async fn consistent(&self) -> Result<(), ServerError> {
        let target = tokio::time::timeout(self.timeout, self.barrier.last_seq())
            .await
            .map_err(|_| {
                ServerError::ClusterUnavailable(
                    "consistent read: the log did not answer within --cluster-timeout-ms".into(),
                )
            })?
            .map_err(|e| ServerError::ClusterUnavailable(format!("consistent read: {e}")))?;
        self.status.saw(target);
        tokio::time::timeout(self.timeout, self.status.applied_through(target))
            .await
            .map_err(|_| {
                ServerError::ClusterUnavailable(format!(
                    "consistent read: this replica did not reach log sequence {target} within \
                     --cluster-timeout-ms"
                ))
            })
    }

    /// Where this replica stands (asks the log for its last sequence).
    pub async fn view(&self) -> ReplicaView {
        let asked = tokio::time::timeout(self.timeout, self.barrier.last_seq()).await;
        if let Ok(Ok(seq)) = asked {
            self.status.saw(seq);
        }
        ReplicaView {
            node: format!("{:016x}", self.node),
            stream: self.stream.clone(),
            applied_seq: self.status.applied_seq(),
            stream_seq: self.status.known_seq(),
            lag: self.status.lag(),
            publisher: self
                .lease
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .holder()
                .map(|node| format!("{node:016x}")),
        }
    }

    /// `Err` when this replica should get no traffic: it stopped applying,
    /// or it is too far behind.
    pub fn readiness(&self) -> Result<(), ProbeResponse> {
        if let Some(failure) = self.status.failure() {
            return Err(ProbeResponse {
                status: "replica_failed".into(),
                reason: Some(failure),
            });
        }
        let lag = self.status.lag();
        if !self.status.caught_up() || lag > self.max_lag {
            return Err(ProbeResponse {
                status: "catching_up".into(),
                reason: Some(format!(
                    "{lag} log messages behind (more than --cluster-max-lag {})",
                    self.max_lag
                )),
            });
        }
        Ok(())
    }
}
