//! The usual `process_*` metrics of a Prometheus exporter (CPU time,
//! memory, file descriptors, threads, start time), read from `/proc` at
//! each scrape, and `kvstore_build_info`.
//!
//! They are named as every Prometheus client library names them, without
//! the `kvstore_` prefix, so that the standard dashboards find them. Off
//! Linux, only the start time and the build information are reported.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, fixed at 100 by
/// the kernel's user-space interface on every architecture).
const USER_HZ: f64 = 100.0;

/// Reports the `process_*` metrics.
#[derive(Debug)]
pub struct ProcessCollector {
    /// When the process started, in seconds since the Unix epoch.
    start_time: f64,
}

impl ProcessCollector {
    /// A collector for this process, which started about now.
    pub fn new() -> Self {
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self { start_time }
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge<T>(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: T) -> std::fmt::Result
where
    ConstGauge<T>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        gauge(
            &mut e,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            self.start_time,
        )?;
        let Some(stat) = ProcStat::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stat.cpu_seconds);
        cpu.encode(e.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent, in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        gauge(
            &mut e,
            "process_resident_memory_bytes",
            "Resident memory size, in bytes",
            stat.resident_bytes,
        )?;
        gauge(
            &mut e,
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes",
            stat.virtual_bytes,
        )?;
        gauge(&mut e, "process_threads", "Threads", stat.threads)?;
        if let Some(open) = count_dir("/proc/self/fd") {
            gauge(&mut e, "process_open_fds", "Open file descriptors", open)?;
        }
        if let Some(max) = max_open_files() {
            gauge(
                &mut e,
                "process_max_fds",
                "Most file descriptors the process may open",
                max,
            )?;
        }
        Ok(())
    }
}

/// What `/proc/self/stat` and `/proc/self/status` say.
struct ProcStat {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    threads: i64,
}

impl ProcStat {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // After the name: field 3 is at index 0; utime is field 14, stime 15.
        let ticks = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
        let cpu_seconds = (ticks(14)? + ticks(15)?) as f64 / USER_HZ;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kib = |name: &str| -> Option<i64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            line[name.len()..].split_whitespace().next()?.parse().ok()
        };
        Some(Self {
            cpu_seconds,
            resident_bytes: kib("VmRSS:")? * 1024,
            virtual_bytes: kib("VmSize:")? * 1024,
            threads: kib("Threads:")?,
        })
    }
}

fn count_dir(path: &str) -> Option<i64> {
    Some(std::fs::read_dir(path).ok()?.count() as i64)
}

/// The soft limit on open files, from `/proc/self/limits`.
fn max_open_files() -> Option<i64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Reports `kvstore_build_info`: always 1, with the version as a label.
#[derive(Debug)]
pub struct BuildInfo;

impl Collector for BuildInfo {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        let metric = ConstGauge::new(1i64);
        let mut encoder = e.encode_descriptor(
            "build_info",
            "The server's version, as a label; always 1",
            None,
            metric.metric_type(),
        )?;
        metric.encode(encoder.encode_family(&labels)?)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn proc_is_read() {
        let stat = ProcStat::read().expect("/proc/self is readable");
        assert!(stat.resident_bytes > 0 && stat.virtual_bytes >= stat.resident_bytes);
        assert!(stat.threads >= 1 && stat.cpu_seconds >= 0.0);
        assert!(count_dir("/proc/self/fd").is_some_and(|n| n >= 3));
        assert!(max_open_files().is_some_and(|n| n > 0));
    }
}
