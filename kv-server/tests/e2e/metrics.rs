//! `GET /metrics` parses as Prometheus text (with the `prometheus-parse`
//! crate, every line checked) and its numbers match what the test did: the
//! request counters by route, method and status, the latency histograms'
//! counts, the keys, bytes and revision of the store, the watchers, and the
//! NATS connection state.
//!
//! `prometheus-parse` reads the Prometheus text format, with three gaps the
//! test works around, so that every line is still parsed and checked:
//! - OpenMetrics ends with `# EOF`: the test checks it is the last line and
//!   leaves it out.
//! - OpenMetrics names counter families without their `_total` suffix, so
//!   counter samples come out untyped; the test reads their values.
//! - Its sample pattern cannot read a `}` inside a label value, and route
//!   labels have them (`/v1/kv/{key}`): the test percent-encodes `{` and `}`
//!   inside quoted label values before parsing and decodes them after.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kv_core::api::key_path;
use kv_testkit::{NatsServer, TestServer};
use prometheus_parse::{LineInfo, Sample, Scrape, Value as Metric};
use serde_json::json;

use crate::{post_json_as, send_as, start};

/// Every sample of one scrape.
struct Scraped {
    samples: Vec<Sample>,
}

impl Scraped {
    /// The value of the one sample named `name` whose labels include
    /// `labels` (0 when there is none: counters start absent).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<f64> = self
            .matching(name, labels)
            .map(|s| match &s.value {
                Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
                other => panic!("{name} is not a number: {other:?}"),
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
        found.first().copied().unwrap_or(0.0)
    }

    /// Whether a sample named `name` exists at all.
    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.metric == name)
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.metric == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).map(decode_braces).as_deref() == Some(*v))
        })
    }

    /// `kvstore_http_requests_total` by (route, method, status).
    fn requests(&self) -> BTreeMap<(String, String, String), f64> {
        self.matching("kvstore_http_requests_total", &[])
            .map(|s| {
                let label = |name: &str| decode_braces(s.labels.get(name).unwrap_or_default());
                let value = match s.value {
                    Metric::Counter(v) | Metric::Untyped(v) => v,
                    ref other => panic!("not a counter: {other:?}"),
                };
                ((label("route"), label("method"), label("status")), value)
            })
            .collect()
    }

    /// The buckets of the latency histogram of `route`: (le, count).
    fn latency_buckets(&self, route: &str) -> Vec<(f64, f64)> {
        let labels = [("route", route)];
        let found: Vec<_> = self
            .matching("kvstore_http_request_duration_seconds", &labels)
            .collect();
        assert_eq!(found.len(), 1, "one histogram for {route}");
        match &found[0].value {
            Metric::Histogram(buckets) => buckets.iter().map(|b| (b.less_than, b.count)).collect(),
            other => panic!("not a histogram: {other:?}"),
        }
    }
}

/// `line` with `{` and `}` inside quoted label values percent-encoded (see
/// the module docs).
fn encode_braces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in line.chars() {
        match c {
            '{' if quoted => out.push_str("%7B"),
            '}' if quoted => out.push_str("%7D"),
            _ => out.push(c),
        }
        if quoted && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == '"' && !escaped {
            quoted = !quoted;
        }
        escaped = false;
    }
    out
}

/// Undoes [`encode_braces`] in a label value.
fn decode_braces(value: &str) -> String {
    value.replace("%7B", "{").replace("%7D", "}")
}

/// Scrapes `/metrics` as `token` and parses it, checking that every line is
/// understood: a `# HELP`, a `# TYPE`, a sample, or the final `# EOF`.
fn scrape(server: &TestServer, token: Option<&str>) -> Scraped {
    let answer = send_as(server, token, "GET", "/metrics", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text")
            || content_type.starts_with("text/plain"),
        "{content_type}"
    );
    let text = answer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "OpenMetrics ends with # EOF");
    let body: Vec<String> = lines[..lines.len() - 1]
        .iter()
        .map(|line| encode_braces(line))
        .collect();
    let mut helped = Vec::new();
    let mut typed = Vec::new();
    for line in &body {
        match LineInfo::parse(line) {
            LineInfo::Doc { metric_name, .. } => helped.push(metric_name.to_owned()),
            LineInfo::Type {
                metric_alias,
                metric_name,
                ..
            } => typed.push(metric_alias.unwrap_or(metric_name)),
            LineInfo::Sample { value, .. } => {
                assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}")
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("not Prometheus text: {line:?}"),
        }
    }
    assert_eq!(helped, typed, "every family has HELP and TYPE, in order");
    let parsed = Scrape::parse(body.into_iter().map(Ok)).expect("parses");
    Scraped {
        samples: parsed.samples,
    }
}

/// A request body: content type and bytes.
type Body<'a> = (&'a str, &'a [u8]);

#[test]
fn counters_match_the_traffic_sent() {
    let server = start(&[]);
    // 7 sets of 5 keys (two overwrites), 5 gets, 3 not-founds, 2 bad
    // requests, 1 wrong method.
    let sets = [
        ("a", "1"),
        ("b", "22"),
        ("c", "333"),
        ("a", "4444"),
        ("d", "5"),
        ("e", "66"),
        ("b", "7"),
    ];
    for (key, val) in sets {
        let answer = post_json_as(&server, None, "/set", &json!({"key": key, "val": val}));
        assert_eq!(answer.status, 201, "{}", answer.text());
    }
    let json_ct = "application/json";
    let missing = key_path("missing");
    let traffic: Vec<(&str, &str, Option<Body<'_>>, u16)> = vec![
        ("GET", "/get?key=a", None, 200),
        ("GET", "/get?key=b", None, 200),
        ("GET", "/get?key=c", None, 200),
        ("GET", "/get?key=d", None, 200),
        ("GET", "/get?key=zz", None, 200),
        ("GET", "/nope", None, 404),
        ("POST", "/no/such/route", None, 404),
        ("GET", &missing, None, 404),
        ("GET", "/get", None, 400),
        ("POST", "/set", Some((json_ct, b"{")), 400),
        ("PUT", "/set", None, 405),
    ];
    for (method, path, body, status) in traffic {
        let answer = send_as(&server, None, method, path, body);
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text());
    }

    let first = scrape(&server, None);
    let expected: BTreeMap<(String, String, String), f64> = [
        ("/set", "POST", "201", 7.0),
        ("/get", "GET", "200", 5.0),
        ("unmatched", "GET", "404", 1.0),
        ("unmatched", "POST", "404", 1.0),
        ("/v1/kv/{key}", "GET", "404", 1.0),
        ("/get", "GET", "400", 1.0),
        ("/set", "POST", "400", 1.0),
        ("/set", "PUT", "405", 1.0),
    ]
    .into_iter()
    .map(|(r, m, s, n)| ((r.to_owned(), m.to_owned(), s.to_owned()), n))
    .collect();
    assert_eq!(
        first.requests(),
        expected,
        "the first scrape is not counted yet"
    );

    // The store's numbers.
    let listing = send_as(&server, None, "GET", "/v1/kv", None).json();
    let rev = listing["rev"].as_u64().expect("a revision");
    assert_eq!(rev, 7, "one revision per set");
    assert_eq!(first.value("kvstore_revision", &[]), rev as f64);
    assert_eq!(first.value("kvstore_keys", &[]), 5.0);
    // Keys and values now: a=4444 b=7 c=333 d=5 e=66.
    let live: usize = [
        ("a", "4444"),
        ("b", "7"),
        ("c", "333"),
        ("d", "5"),
        ("e", "66"),
    ]
    .iter()
    .map(|(k, v)| k.len() + v.len())
    .sum();
    assert_eq!(first.value("kvstore_live_bytes", &[]), live as f64);
    assert_eq!(first.value("kvstore_writable", &[]), 1.0);
    assert_eq!(first.value("kvstore_watchers", &[]), 0.0);
    assert_eq!(first.value("kvstore_feed_events", &[]), 7.0);
    assert_eq!(first.value("kvstore_feed_oldest_revision", &[]), 1.0);
    assert_eq!(first.value("kvstore_compactions_total", &[]), 0.0);
    assert!(first.value("kvstore_log_bytes", &[]) > 0.0);
    // fsync=always, one set at a time: one batch, one sync, per set.
    assert_eq!(
        first.value("kvstore_fsync_duration_seconds_count", &[]),
        7.0
    );
    // Without NATS, no NATS metrics.
    assert!(!first.has("kvstore_nats_connected"));

    // Every route's histogram counted its requests, in monotone buckets
    // that end at +Inf with the count.
    let mut by_route: BTreeMap<String, f64> = BTreeMap::new();
    for ((route, _, _), n) in &expected {
        *by_route.entry(route.clone()).or_default() += n;
    }
    for (route, n) in &by_route {
        let count = first.value(
            "kvstore_http_request_duration_seconds_count",
            &[("route", route)],
        );
        assert_eq!(count, *n, "histogram count of {route}");
        let buckets = first.latency_buckets(route);
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{route}: {buckets:?}"
        );
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, *n)), "{route}");
        let sum = first.value(
            "kvstore_http_request_duration_seconds_sum",
            &[("route", route)],
        );
        assert!(sum > 0.0 && sum < 60.0, "{route}: {sum}");
    }

    // The second scrape counts the first.
    let second = scrape(&server, None);
    let mut with_scrape = expected.clone();
    with_scrape.insert(("/metrics".into(), "GET".into(), "200".into()), 1.0);
    with_scrape.insert(("/v1/kv".into(), "GET".into(), "200".into()), 1.0);
    assert_eq!(second.requests(), with_scrape);
    assert_eq!(
        second.value(
            "kvstore_http_request_duration_seconds_count",
            &[("route", "/metrics")]
        ),
        1.0
    );
}

#[test]
fn watchers_and_auth_outcomes_are_counted() {
    let token = "metrics-token-0123456789";
    let server = crate::start_with_env(&[], &[("KVSTORE_AUTH_TOKEN", token)]);
    let t = Some(token);
    assert_eq!(
        send_as(&server, None, "GET", "/get?key=a", None).status,
        401
    );
    assert_eq!(
        send_as(&server, None, "GET", "/get?key=a", None).status,
        401
    );
    assert_eq!(send_as(&server, None, "GET", "/healthz", None).status, 200);
    let watch = kv_testkit::http::agent()
        .get(server.url("/v1/watch"))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .expect("watch");
    assert_eq!(watch.status(), 200);
    let scraped = scrape(&server, t);
    let requests = scraped.requests();
    assert_eq!(
        requests.get(&("/get".into(), "GET".into(), "401".into())),
        Some(&2.0)
    );
    assert_eq!(
        requests.get(&("/healthz".into(), "GET".into(), "200".into())),
        Some(&1.0)
    );
    assert_eq!(
        requests.get(&("/v1/watch".into(), "GET".into(), "200".into())),
        Some(&1.0)
    );
    assert_eq!(scraped.value("kvstore_watchers", &[]), 1.0);
    drop(watch);
    // The server notices the watcher left at its next write to it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while scrape(&server, t).value("kvstore_watchers", &[]) != 0.0 {
        assert!(Instant::now() < deadline, "the watcher never left");
        let _ = post_json_as(
            &server,
            t,
            "/set",
            &json!({"key": format!("w{n}"), "val": "v"}),
        );
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Scrapes until `check` holds, at most 30 s.
fn scrape_until(server: &TestServer, what: &str, check: impl Fn(&Scraped) -> bool) -> Scraped {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = scrape(server, None);
        if check(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nats_connection_state_and_lag_are_exposed() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let server = start(&["--nats-url", &nats.url()]);
    let connected = |s: &Scraped| s.value("kvstore_nats_connected", &[]) == 1.0;
    scrape_until(&server, "the NATS connection", connected);
    for i in 0..5 {
        let answer = post_json_as(
            &server,
            None,
            "/set",
            &json!({"key": format!("k{i}"), "val": "v"}),
        );
        assert_eq!(answer.status, 201);
    }
    let settled = scrape_until(&server, "NATS confirming every revision", |s| {
        connected(s) && s.value("kvstore_nats_publish_lag_revisions", &[]) == 0.0
    });
    assert_eq!(
        settled.value("kvstore_nats_skipped_revisions_total", &[]),
        0.0
    );
    assert_eq!(settled.value("kvstore_revision", &[]), 5.0);
    // NATS goes away: the gauge says so; it comes back: so does the gauge.
    nats.stop();
    scrape_until(&server, "seeing NATS down", |s| {
        s.value("kvstore_nats_connected", &[]) == 0.0
    });
    nats.restart();
    scrape_until(&server, "reconnecting to NATS", connected);
}

#[test]
fn process_metrics_and_build_info_are_exposed() {
    let server = start(&["--in-memory"]);
    let scraped = scrape(&server, None);
    assert!(scraped.value("process_resident_memory_bytes", &[]) > 0.0);
    assert!(scraped.value("process_open_fds", &[]) >= 3.0);
    assert!(scraped.value("process_max_fds", &[]) > 0.0);
    assert!(scraped.value("process_threads", &[]) >= 2.0);
    assert!(scraped.has("process_cpu_seconds_total"));
    let started = scraped.value("process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        started > now - 600.0 && started <= now,
        "{started} against {now}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        scraped.value("kvstore_build_info", &[("version", version)]),
        1.0
    );
}
