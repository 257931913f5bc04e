//! The wall clock, read by the server and never by kv-core: the writer
//! gives each batch its time, and reads and listings the time they happen
//! at, so that kv-core's results depend only on what it is given.

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
