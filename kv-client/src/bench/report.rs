//! What a benchmark run measured: per-connection `Tally`s while it runs,
//! merged into one [`Report`] at the end, printed as text or JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plan::{Answer, Fault};
use super::Op;
use crate::human::{count, thousands};

/// The largest latency recorded exactly, in microseconds (a minute: twice
/// the request timeout); anything slower is recorded as this.
const HIGHEST_MICROS: u64 = 60_000_000;

/// One connection's counts for one operation.
#[derive(Debug, Clone)]
pub(crate) struct OpTally {
    /// Latency of every answered request, in microseconds.
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
    missing: u64,
}

impl OpTally {
    fn new() -> Self {
        OpTally {
            // Three significant digits from 1 µs to a minute: about 100 KiB.
            latency: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("valid histogram bounds"),
            requests: 0,
            errors: 0,
            missing: 0,
        }
    }
}

/// What one connection (or several, merged) measured.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// Indexed by [`Op`] (`Op::Get as usize`, `Op::Set as usize`).
    ops: [OpTally; 2],
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    bytes: u64,
}

impl Tally {
    pub(crate) fn new() -> Self {
        Tally {
            ops: [OpTally::new(), OpTally::new()],
            errors: BTreeMap::new(),
            first_error: None,
            bytes: 0,
        }
    }

    /// Counts one request that took `took`.
    pub(crate) fn record(&mut self, op: Op, took: Duration, result: Result<Answer, Fault>) {
        let tally = &mut self.ops[op as usize];
        tally.requests += 1;
        tally
            .latency
            .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        match result {
            Ok(answer) => {
                self.bytes += answer.bytes;
                if !answer.found {
                    tally.missing += 1;
                }
            }
            Err(fault) => {
                tally.errors += 1;
                *self.errors.entry(fault.kind).or_default() += 1;
                self.first_error.get_or_insert(fault.detail);
            }
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.ops.iter_mut().zip(other.ops) {
            // Both histograms have the same bounds, so adding cannot fail.
            let _ = mine.latency.add(&theirs.latency);
            mine.requests += theirs.requests;
            mine.errors += theirs.errors;
            mine.missing += theirs.missing;
        }
        for (kind, count) in other.errors {
            *self.errors.entry(kind).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.bytes += other.bytes;
    }

    /// The first failure's full message, if any request failed.
    pub(crate) fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }
}

/// What the run was, as given on the command line.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    /// `get`, `set` or `mixed`.
    pub workload: &'static str,
    /// `basic` or `v1`.
    pub api: &'static str,
    /// What sent the requests: `event` (the event-driven engine, for
    /// http) or `blocking` (a thread per connection, for https).
    pub engine: &'static str,
    /// Concurrent connections.
    pub connections: usize,
    /// The key space.
    pub keys: u64,
    /// Bytes in every value written.
    pub value_size: usize,
    /// Percentage of sets (`mixed` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_percent: Option<u8>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// The mean.
    pub mean: f64,
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p99_9: f64,
    /// The slowest request.
    pub max: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Latency::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Latency {
            mean: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }
}

/// The figures of one operation (`get` or `set`).
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Gets that found no value.
    pub missing: u64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    #[serde(flatten)]
    pub setup: Setup,
    /// Seconds from the first request to the last answer.
    pub elapsed_s: f64,
    /// Requests sent (each got an answer or failed).
    pub requests: u64,
    /// Requests that failed: an error status or a transport failure.
    pub errors: u64,
    /// Failures by kind: `503 storage_failed`, `timeout`, ...
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Gets that found no value (not failures).
    pub missing: u64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Megabytes (10^6 bytes) per second of request and response bodies
    /// (headers not counted).
    pub mb_per_s: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
    /// The same figures per operation (only those that ran).
    pub ops: BTreeMap<&'static str, OpReport>,
}

impl Report {
    /// The report of a run described by `setup` that took `elapsed`.
    pub(crate) fn new(setup: Setup, elapsed: Duration, tally: &Tally) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let mut all = tally.ops[0].latency.clone();
        let _ = all.add(&tally.ops[1].latency);
        let mut ops = BTreeMap::new();
        for (op, name) in [(Op::Get, "get"), (Op::Set, "set")] {
            let t = &tally.ops[op as usize];
            if t.requests > 0 {
                ops.insert(
                    name,
                    OpReport {
                        requests: t.requests,
                        errors: t.errors,
                        missing: t.missing,
                        requests_per_s: t.requests as f64 / seconds,
                        latency_ms: Latency::of(&t.latency),
                    },
                );
            }
        }
        let requests = tally.ops.iter().map(|t| t.requests).sum::<u64>();
        Report {
            setup,
            elapsed_s: seconds,
            requests,
            errors: tally.ops.iter().map(|t| t.errors).sum(),
            errors_by_kind: tally.errors.clone(),
            missing: tally.ops.iter().map(|t| t.missing).sum(),
            requests_per_s: requests as f64 / seconds,
            mb_per_s: tally.bytes as f64 / seconds / 1e6,
            latency_ms: Latency::of(&all),
            ops,
        }
    }

    /// Prints the report for a person.
    ///
    /// # Errors
    ///
    /// `out` could not be written.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let s = &self.setup;
        let routes = match (s.api, s.workload) {
            ("v1", "get") => "GET /v1/kv/KEY",
            ("v1", "set") => "PUT /v1/kv/KEY",
            ("v1", _) => "GET and PUT /v1/kv/KEY",
            (_, "get") => "GET /get?key=",
            (_, "set") => "POST /set",
            _ => "GET /get?key= and POST /set",
        };
        let mix = s
            .writes_percent
            .map(|w| format!(" ({w}% sets)"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}{mix} on {routes}: {}, {}, {}-byte values",
            s.workload,
            count(s.connections as u64, "connection"),
            count(s.keys, "key"),
            s.value_size
        )?;
        writeln!(
            out,
            "  requests   {} in {:.2} s ({} errors, {} missing)",
            thousands(self.requests),
            self.elapsed_s,
            thousands(self.errors),
            thousands(self.missing)
        )?;
        writeln!(
            out,
            "  rate       {} req/s, {:.1} MB/s of bodies",
            thousands(self.requests_per_s.round() as u64),
            self.mb_per_s
        )?;
        write_latency(out, "latency", &self.latency_ms)?;
        if self.ops.len() > 1 {
            for (name, op) in &self.ops {
                write_latency(out, name, &op.latency_ms)?;
            }
        }
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind}: {}", thousands(*n)))
                .collect();
            writeln!(out, "  errors     {}", kinds.join(", "))?;
        }
        Ok(())
    }
}

fn write_latency(out: &mut dyn Write, label: &str, l: &Latency) -> io::Result<()> {
    writeln!(
        out,
        "  {label:<10} p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        millis(l.p50),
        millis(l.p90),
        millis(l.p99),
        millis(l.p99_9),
        millis(l.max)
    )
}

/// Milliseconds with three significant digits or whole.
fn millis(ms: f64) -> String {
    match ms {
        m if m >= 100.0 => format!("{m:.0}"),
        m if m >= 10.0 => format!("{m:.1}"),
        m if m >= 1.0 => format!("{m:.2}"),
        m => format!("{m:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_merge_into_ordered_percentiles() {
        let ok = Ok(Answer {
            found: true,
            bytes: 10,
        });
        let mut a = Tally::new();
        let mut b = Tally::new();
        for micros in 1..=1000 {
            a.record(Op::Get, Duration::from_micros(micros), ok.clone());
        }
        b.record(Op::Set, Duration::from_millis(50), ok.clone());
        b.record(
            Op::Set,
            Duration::from_millis(1),
            Err(Fault {
                kind: "503 unavailable".into(),
                detail: "503 unavailable: shutting down".into(),
            }),
        );
        a.merge(b);
        let setup = Setup {
            workload: "mixed",
            api: "basic",
            engine: "event",
            connections: 2,
            keys: 10,
            value_size: 1,
            writes_percent: Some(10),
        };
        let report = Report::new(setup, Duration::from_secs(2), &a);
        assert_eq!((report.requests, report.errors), (1002, 1));
        assert_eq!(report.errors_by_kind["503 unavailable"], 1);
        assert_eq!(report.requests_per_s, 501.0);
        let l = report.latency_ms;
        assert!(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max);
        assert!((l.max - 50.0).abs() < 0.1, "{l:?}");
        assert!((report.ops["get"].latency_ms.p50 - 0.5).abs() < 0.01);
        assert_eq!(a.first_error(), Some("503 unavailable: shutting down"));
        let mut text = Vec::new();
        report.write_text(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(text.contains("1,002 in 2.00 s (1 errors"), "{text}");
        assert!(text.contains("errors     503 unavailable: 1"), "{text}");
    }
}
