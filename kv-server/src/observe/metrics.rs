//! The metrics registry behind `GET /metrics` (Prometheus metrics in the
//! OpenMetrics text format): ours, prefixed `kvstore_`, and the standard
//! `process_*` ones ([`process`](crate::observe::process)).
//!
//! Request counts and latencies are recorded through
//! [`Metrics::record_request`] by the HTTP layer's middleware, per thread
//! ([`request_stats`](crate::observe::request_stats));
//! fsync latencies and compactions by the storage ([`StorageStatus`]); the
//! rest (keys, bytes, revision, log size, watchers, the feed and NATS) is
//! read from the live state at each scrape by a collector, so it costs
//! nothing between scrapes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use kv_core::Store;
use kv_pubsub::Feed;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::observe::process::{BuildInfo, ProcessCollector};
use crate::observe::request_stats::{method_index, RequestStats, RequestStatsCollector};
use crate::storage::StorageStatus;

/// Counters every watch stream updates.
#[derive(Debug, Default)]
pub struct WatchCounters {
    /// Streams open now.
    pub open: AtomicUsize,
    /// Streams ended because their watcher fell too far behind.
    pub cut: AtomicU64,
    /// Bytes waiting in every watch stream's buffer.
    pub buffered: AtomicUsize,
}

/// The media type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The server's metrics registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Arc<RequestStats>,
    live: Arc<OnceLock<LiveState>>,
}

impl Metrics {
    /// Registers every metric, labelling requests with `routes` (the route
    /// table's names). The store's, the storage's and the feed's appear
    /// once [`attach`](Self::attach) has given them.
    pub fn new(routes: &'static [&'static str]) -> Self {
        // The process metrics keep their standard names; the rest are ours.
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessCollector::new()));
        let ours = registry.sub_registry_with_prefix("kvstore");
        ours.register_collector(Box::new(BuildInfo));
        let requests = Arc::new(RequestStats::new(routes));
        ours.register_collector(Box::new(RequestStatsCollector(Arc::clone(&requests))));
        let live = Arc::new(OnceLock::new());
        ours.register_collector(Box::new(Live(Arc::clone(&live))));
        Self {
            registry,
            requests,
            live,
        }
    }

    /// Starts reporting the loaded state's metrics.
    pub fn attach(&self, live: LiveState) {
        let _ = self.live.set(live);
    }

    /// Records one answered request: its route's name (if it matched
    /// one), method, status and time to answer.
    pub fn record_request(&self, route: Option<&str>, method: &str, status: u16, seconds: f64) {
        let route = self.requests.route_index(route);
        self.requests
            .record(route, method_index(method), status, seconds);
    }

    /// The text exposition.
    ///
    /// # Errors
    ///
    /// A metric could not be encoded.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// What the scrape-time metrics are read from.
#[derive(Debug)]
pub struct LiveState {
    /// The store.
    pub store: Store,
    /// The storage's status.
    pub storage: Arc<StorageStatus>,
    /// The change feed.
    pub feed: Arc<dyn Feed>,
    /// The watch streams' counters.
    pub watch: Arc<WatchCounters>,
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Saturating conversion for gauges.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The collector: reads the live state at each scrape, once it exists.
#[derive(Debug)]
struct Live(Arc<OnceLock<LiveState>>);

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self.0.get() {
            Some(live) => live.encode(&mut encoder),
            None => Ok(()),
        }
    }
}

impl LiveState {
    fn encode(&self, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.encode_storage(e)?;
        self.encode_store(e)?;
        self.encode_watchers(e)?;
        self.encode_feed(e)
    }

    /// The log: fsyncs, compactions, size, whether writes are accepted.
    fn encode_storage(&self, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let fsync = self.storage.fsync_histogram();
        fsync.encode(e.encode_descriptor(
            "fsync_duration_seconds",
            "Time of each fsync of the log",
            None,
            fsync.metric_type(),
        )?)?;
        let compactions = self.storage.compaction_counter();
        compactions.encode(e.encode_descriptor(
            "compactions",
            "Log compactions completed",
            None,
            compactions.metric_type(),
        )?)?;
        gauge(
            e,
            "log_bytes",
            "Bytes in the log since the last snapshot",
            int(self.storage.log_len()),
        )?;
        gauge(
            e,
            "writable",
            "1 when writes are accepted, 0 after a storage failure",
            i64::from(self.storage.failure().is_none()),
        )
    }

    /// The store: keys, bytes, revision.
    fn encode_store(&self, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        gauge(e, "keys", "Keys in the store", int(self.store.len() as u64))?;
        gauge(
            e,
            "live_bytes",
            "Bytes of keys and values in the store",
            int(self.store.live_bytes()),
        )?;
        gauge(
            e,
            "revision",
            "The store's revision",
            int(self.store.revision()),
        )
    }

    /// The watch streams: open, cut, buffered.
    fn encode_watchers(&self, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        gauge(
            e,
            "watchers",
            "Watch streams open",
            int(self.watch.open.load(Ordering::Relaxed) as u64),
        )?;
        counter(
            e,
            "watchers_cut",
            "Watch streams ended because the watcher fell too far behind",
            self.watch.cut.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "watch_buffered_bytes",
            "Bytes waiting in the watch streams' buffers",
            int(self.watch.buffered.load(Ordering::Relaxed) as u64),
        )
    }

    /// The change feed, and NATS when it is configured.
    fn encode_feed(&self, e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let feed = self.feed.stats();
        gauge(
            e,
            "feed_events",
            "Events the change feed holds for watchers to resume from",
            int(feed.events as u64),
        )?;
        gauge(
            e,
            "feed_oldest_revision",
            "The oldest revision a watcher can resume from",
            int(feed.oldest_rev),
        )?;
        let Some(nats) = feed.nats_state() else {
            return Ok(());
        };
        gauge(
            e,
            "nats_connected",
            "1 when the NATS connection is up",
            i64::from(nats.connected),
        )?;
        gauge(
            e,
            "nats_publish_lag_revisions",
            "Revisions committed but not yet confirmed by NATS (queued)",
            int(nats.queued),
        )?;
        counter(
            e,
            "nats_skipped_revisions",
            "Revisions never published to NATS (dropped): an outage outlasted the feed's ring",
            nats.dropped,
        )
    }
}
