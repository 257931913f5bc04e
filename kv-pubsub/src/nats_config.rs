//! [`NatsConfig`]: where and how the feed is published on NATS, and which
//! subjects that makes. Plain data: the `nats` crate stays in
//! [`nats`](crate::nats) alone.

use std::time::Duration;

/// Where and how to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL, such as `nats://127.0.0.1:4222`.
    pub url: String,
    /// Prepended to the subjects `set`, `rm` and `expire` (empty: the
    /// original bare subjects).
    pub subject_prefix: String,
    /// A JetStream stream over the subjects: the publisher creates it if
    /// missing (file storage, deduplicating by `Nats-Msg-Id`), and a
    /// subscriber replays it from the start.
    pub stream: Option<String>,
}

/// How long JetStream remembers message ids to drop resent duplicates.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

impl NatsConfig {
    /// The subject for an op.
    pub fn subject(&self, op: &str) -> String {
        format!("{}{op}", self.subject_prefix)
    }

    /// The subjects the feed publishes on.
    pub fn subjects(&self) -> Vec<String> {
        ["set", "rm", "expire"]
            .iter()
            .map(|op| self.subject(op))
            .collect()
    }
}
