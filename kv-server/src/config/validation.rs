//! The checks of values no flag parser does, made before the server binds
//! or loads anything: a value the server cannot run with is refused at
//! once, naming its flag.

use crate::config::Config;

impl Config {
    /// Refuses values the server cannot run with.
    ///
    /// # Errors
    ///
    /// The first unusable value, as a message naming its flag.
    pub(super) fn refuse_unusable_values(&self) -> Result<(), String> {
        kv_core::store::check_shard_count(self.shards).map_err(|e| format!("--shards: {e}"))?;
        let at_least_one = [
            ("--workers", self.workers.unwrap_or(1)),
            ("--max-batch", self.max_batch),
            ("--queue-depth", self.queue_depth),
            ("--max-connections", self.max_connections),
            ("--max-key-bytes", self.max_key_bytes),
            ("--max-txn-ops", self.max_txn_ops),
            ("--feed-ring-events", self.feed_ring_events),
        ];
        if let Some((flag, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        if !(self.compact_ratio.is_finite() && self.compact_ratio >= 0.0) {
            return Err(format!(
                "--compact-ratio must be a number of times the live data (such as 2), not {}",
                self.compact_ratio
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn unusable_values_are_refused_naming_the_flag() {
        for (args, flag) in [
            (&["--shards", "3"][..], "--shards"),
            (&["--shards", "0"], "--shards"),
            (&["--workers", "0"], "--workers"),
            (&["--max-batch", "0"], "--max-batch"),
            (&["--compact-ratio", "NaN"], "--compact-ratio"),
        ] {
            let err = Config::parse_from(["server"].iter().chain(args))
                .expect_err(flag)
                .to_string();
            assert!(err.starts_with(flag), "{args:?}: {err}");
        }
        Config::parse_from(["server", "--shards", "8", "--workers", "1"]).expect("valid");
    }
}
