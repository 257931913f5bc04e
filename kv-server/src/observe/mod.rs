//! What the server tells about itself: metrics, read at each scrape, and
//! per-thread request tallies. No actix types: the HTTP layer's middleware
//! and `GET /metrics` handler use these.
//!
//! - [`metrics`]: the registry and the collector of the live state.
//! - [`request_stats`]: request counts and latencies, tallied per thread.
//! - [`process`]: the standard `process_*` metrics and the build's version.

pub mod metrics;
pub mod process;
pub mod request_stats;
