//! What the rest of the server takes from the configuration: durations,
//! limits, the log's and the feed's settings, derived from the flags.

use std::time::Duration;

use kv_core::Limits;
use kv_pubsub::nats::{JetStreamSettings, NatsConfig};
use kv_pubsub::RingLimits;

use crate::cluster::ClusterSettings;
use crate::config::{Config, BODY_OVERHEAD_BYTES};
use crate::storage::durable_log::LogSettings;

impl Config {
    /// How long a request waits for the data to load after a start.
    pub(crate) fn recovery_wait(&self) -> Duration {
        Duration::from_millis(self.recovery_wait_ms)
    }

    /// How long a client has to send its request head.
    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// The key and value limits.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_key_bytes: self.max_key_bytes,
            max_value_bytes: self.max_value_bytes,
        }
    }

    /// The largest request body accepted: twice the value limit plus
    /// [`BODY_OVERHEAD_BYTES`], room for a value whose JSON string escapes
    /// double its size. Larger bodies are refused with 413 while they are
    /// read, whether or not they declare a `Content-Length`.
    pub(crate) fn max_body_bytes(&self) -> usize {
        self.max_value_bytes
            .saturating_mul(2)
            .saturating_add(BODY_OVERHEAD_BYTES)
    }

    /// The durable log's settings.
    pub(crate) fn log_settings(&self) -> LogSettings {
        LogSettings {
            policy: self.fsync,
            segment_bytes: self.segment_bytes,
            compact_min_bytes: self.compact_min_bytes,
            compact_ratio: self.compact_ratio,
        }
    }

    /// How much of the feed is kept in memory.
    pub(crate) fn ring_limits(&self) -> RingLimits {
        RingLimits {
            max_events: self.feed_ring_events,
            max_bytes: self.feed_ring_bytes,
        }
    }

    /// Where to publish changes, if anywhere.
    pub(crate) fn nats(&self) -> Option<NatsConfig> {
        self.nats_url.as_ref().map(|url| NatsConfig {
            url: url.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            stream: self.nats_stream.clone(),
        })
    }

    /// Replicated mode's settings, when `--cluster` is given.
    pub(crate) fn cluster_settings(&self) -> Option<ClusterSettings> {
        let timeout = Duration::from_millis(self.cluster_timeout_ms.max(1));
        self.cluster.as_ref().map(|urls| ClusterSettings {
            log: JetStreamSettings {
                urls: urls.clone(),
                stream: self.cluster_stream.clone(),
                replicas: self.cluster_replicas,
                // One attempt's acknowledgement; a write retries until its
                // whole timeout runs out.
                ack_timeout: timeout.min(Duration::from_secs(2)),
                request_timeout: timeout.min(Duration::from_secs(2)),
            },
            timeout,
            snapshot_every: self.cluster_snapshot_every,
            max_lag: self.cluster_max_lag,
            data_dir: (!self.in_memory).then(|| self.data_dir.clone()),
            limits: self.limits(),
        })
    }

    /// Time between progress events on an idle watch.
    pub(crate) fn watch_heartbeat(&self) -> Duration {
        Duration::from_millis(self.watch_heartbeat_ms.max(1))
    }
}

/// A secret setting: shown as `<redacted>` in debug output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}
