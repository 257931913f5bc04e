//! [`Service::open`]: a server's start. Recovers the store (from the data
//! directory, or in replicated mode from the cluster), opens the change
//! feed, and starts the commit pipeline and the expiry thread.

use std::sync::Arc;

use kv_core::{Command, Store, StoreWriter};
use kv_pubsub::nats::PublishTurn;
use kv_pubsub::{Feed, Hub, NatsFeed};
use log::{info, warn};

use crate::cluster;
use crate::commit::expiry::{ExpiryQueue, ExpiryScheduler};
use crate::commit::local::{Downstream, LocalCommit};
use crate::commit::pipeline::{BatchSink, CommitPipeline};
use crate::config::Config;
use crate::observe::metrics::WatchCounters;
use crate::service::watch_outbox::WatchBudget;
use crate::service::{Service, WatchSettings};
use crate::storage::commit_log::{CommitLog, MemoryOnly};
use crate::storage::{DataDir, DurableLog, StorageError, StorageStatus};

/// A single node's log: the durable one in the data directory (recovering
/// the store from it), or none with `--in-memory`.
fn open_log(
    config: &Config,
    writer: &mut StoreWriter,
) -> Result<(Box<dyn CommitLog>, Arc<StorageStatus>), StorageError> {
    if config.in_memory {
        warn!("running in memory: nothing will survive a restart");
        return Ok((Box::new(MemoryOnly), Arc::new(StorageStatus::in_memory())));
    }
    let status = Arc::new(StorageStatus::durable(config.fsync));
    let dir = Arc::new(DataDir::open(&config.data_dir)?);
    if dir.path().join(cluster::snapshots::META_FILE).exists() {
        return Err(StorageError::Config(format!(
            "{} holds a replica of a cluster: start this server with --cluster, or give it \
             another --data-dir",
            config.data_dir.display()
        )));
    }
    let log = DurableLog::open(
        dir,
        writer,
        config.log_settings(),
        Arc::clone(&status),
        config.repair,
    )?;
    Ok((Box::new(log), status))
}

/// Where applied batches go: the feed, and the expiry queue (loaded with
/// the deadlines already in the store).
fn downstream(writer: &StoreWriter, feed: &Arc<dyn Feed>, expiry: &Arc<ExpiryQueue>) -> Downstream {
    for (at, mod_rev, key) in writer.expiries() {
        expiry.add(at, mod_rev, key);
    }
    Downstream {
        feed: Arc::clone(feed),
        expiry: Arc::clone(expiry),
    }
}

/// The in-process hub, mirrored to NATS when configured (during `turn`
/// only, if given). Its history starts at the recovered revision.
fn open_feed(
    config: &Config,
    last_rev: u64,
    turn: Option<Arc<PublishTurn>>,
) -> Result<Arc<dyn Feed>, StorageError> {
    let hub = Hub::new(config.ring_limits(), last_rev);
    Ok(match config.nats() {
        None => Arc::new(hub),
        Some(nats) => {
            info!("publishing changes to NATS at {}", nats.url);
            Arc::new(
                NatsFeed::start(hub, nats, turn)
                    .map_err(|e| StorageError::Config(e.to_string()))?,
            )
        }
    })
}

impl Service {
    /// Creates the store, recovers it from the data directory (unless
    /// `--in-memory`), and starts the commit pipeline.
    ///
    /// # Errors
    ///
    /// The data directory is locked or damaged, a setting is invalid, or the
    /// writer thread could not be started.
    pub fn open(config: &Config) -> Result<Self, StorageError> {
        let (store, mut writer) = Store::new(config.shards, config.limits())
            .map_err(|e| StorageError::Config(e.to_string()))?;
        let expiry = Arc::new(ExpiryQueue::default());
        let (sink, storage, feed, cluster): (Box<dyn BatchSink>, _, _, _) =
            match config.cluster_settings() {
                None => {
                    let (log, storage) = open_log(config, &mut writer)?;
                    let feed = open_feed(config, store.revision(), None)?;
                    let downstream = downstream(&writer, &feed, &expiry);
                    let sink = LocalCommit::new(writer, log, downstream);
                    (Box::new(sink), storage, feed, None)
                }
                Some(settings) => {
                    let restored = cluster::restore(settings, &mut writer)?;
                    // One replica at a time publishes the feed to NATS.
                    let turn = config.nats().map(|_| Arc::new(PublishTurn::default()));
                    let feed = open_feed(config, store.revision(), turn.clone())?;
                    let downstream = downstream(&writer, &feed, &expiry);
                    let (cluster, proposer) = restored.start(writer, downstream, turn)?;
                    let storage = Arc::new(StorageStatus::in_memory());
                    (Box::new(proposer), storage, feed, Some(cluster))
                }
            };
        let watch_budget = Arc::new(WatchBudget {
            per_watcher: config.watch_buffer_bytes,
            per_watcher_events: config.watch_buffer,
            total: config.watch_total_buffer_bytes,
            counters: Arc::new(WatchCounters::default()),
        });
        let pipeline = Arc::new(
            CommitPipeline::start(sink, config.max_batch, config.queue_depth)
                .map_err(StorageError::io("cannot start the writer thread"))?,
        );
        let submitter = Arc::clone(&pipeline);
        let expiry = ExpiryScheduler::start(expiry, move |key, mod_rev| {
            submitter.submit_detached(Command::Expire { key, mod_rev })
        })
        .map_err(StorageError::io("cannot start the expiry thread"))?;
        Ok(Self {
            store,
            pipeline,
            expiry,
            storage,
            feed,
            cluster,
            watch: WatchSettings {
                heartbeat: config.watch_heartbeat(),
            },
            stopping: tokio::sync::watch::Sender::new(false),
            list_max_bytes: config.list_max_bytes,
            max_txn_ops: config.max_txn_ops,
            watch_budget,
            max_watchers: config.max_watchers,
        })
    }
}
