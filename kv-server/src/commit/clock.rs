//! The wall clock, read by the server and never by kv-core: the writer
//! gives each batch its time, and reads and listings the time they happen
//! at, so that kv-core's results depend only on what it is given.

use std::time::Duration;

/// The deadline `ttl` from now, in milliseconds since the epoch; a time to
/// live too long to count in milliseconds is forever (`u64::MAX`), never a
/// deadline that wrapped around into the past.
pub fn deadline_after(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_ttl_is_forever_not_the_past() {
        assert_eq!(deadline_after(Duration::from_secs(u64::MAX)), u64::MAX);
        let soon = deadline_after(Duration::from_secs(1));
        assert!(soon > now_ms() && soon <= now_ms() + 1000);
    }
}
