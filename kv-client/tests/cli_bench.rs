//! `client bench` (the real binary) against the real `server` binary: the
//! report's figures add up, the writes really land, failures are counted
//! and give exit 4, the token is sent; over http by the event-driven
//! engine, over https by the blocking one.

mod common;

use common::{assert_exit, client, stderr, stdout};
use kv_client::bench::{key_name, value_for};
use kv_testkit::tls::TestCa;
use kv_testkit::{cargo_bin, TestServer};
use serde_json::Value;

/// A token the test servers accept (`KVSTORE_AUTH_TOKEN`).
const TOKEN: &str = "bench-test-token-0123456789";

fn server(args: &[&str]) -> TestServer {
    server_with_env(args, &[])
}

fn server_with_env(args: &[&str], env: &[(&str, &str)]) -> TestServer {
    let mut all = vec!["--in-memory"];
    all.extend_from_slice(args);
    TestServer::start_with_env(cargo_bin("server"), &all, env)
}

/// Runs `client --json bench ARGS`, expects `code`, and parses the report.
fn bench(host: &str, args: &[&str], code: i32) -> (Value, String) {
    let mut all = vec!["--json", "bench"];
    all.extend_from_slice(args);
    let out = client(host, &all);
    assert_exit(&out, code);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    let report = serde_json::from_str(&stdout(&out)).expect("bench --json prints JSON");
    (report, stderr(&out))
}

/// `text` split at spaces: a command line without quoting.
fn words(text: &str) -> Vec<&str> {
    text.split(' ').collect()
}

fn count(report: &Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {report}"))
}

/// p50 <= p90 <= p99 <= p99.9 <= max, all positive.
fn assert_percentiles_ordered(latency: &Value) {
    let get = |name: &str| {
        latency[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} in {latency}"))
    };
    let values = [get("p50"), get("p90"), get("p99"), get("p99_9"), get("max")];
    assert!(values[0] > 0.0, "{latency}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{latency}");
}

#[test]
fn a_set_bench_writes_every_key_and_a_get_bench_reads_them() {
    let server = server(&[]);
    let host = server.base_url();
    let (report, _) = bench(
        &host,
        &words("set --requests 500 --keys 100 --connections 4 --value-size 40"),
        0,
    );
    assert_eq!(count(&report, "requests"), 500, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(report["ops"]["set"]["requests"], 500, "{report}");
    assert_eq!(report["workload"], "set");
    assert_eq!(report["api"], "basic");
    assert_eq!(report["engine"], "event");
    assert!(report["requests_per_s"].as_f64().expect("rate") > 0.0);
    assert!(report["mb_per_s"].as_f64().expect("throughput") > 0.0);
    assert_percentiles_ordered(&report["latency_ms"]);

    // 500 requests over 100 keys visit every key: all of them are there,
    // with the value the bench documents.
    let listed = client(&host, &["list", "--prefix", "bench:", "--keys-only"]);
    assert_exit(&listed, 0);
    assert_eq!(stdout(&listed).lines().count(), 100, "{}", stdout(&listed));
    for i in [0, 1, 42, 99] {
        let got = client(&host, &["-o", "raw", "get", &key_name(i)]);
        assert_exit(&got, 0);
        let expected = String::from_utf8(value_for(i, 40)).expect("ASCII");
        assert_eq!(stdout(&got), expected);
    }

    let (report, _) = bench(
        &host,
        &words("get --requests 500 --keys 100 --connections 4"),
        0,
    );
    assert_eq!(count(&report, "requests"), 500, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "missing"), 0, "{report}");
    assert_eq!(report["ops"]["get"]["requests"], 500, "{report}");
    assert!(report["ops"]["set"].is_null(), "{report}");
    assert_percentiles_ordered(&report["latency_ms"]);
}

#[test]
fn a_mixed_v1_bench_preloads_then_reads_and_writes() {
    let server = server(&[]);
    let host = server.base_url();
    let args = words(
        "mixed --api v1 --writes 50 --preload --requests 400 --keys 50 --connections 3 --threads 2",
    );
    let (report, err) = bench(&host, &args, 0);
    assert!(err.contains("preloaded 50 keys"), "{err}");
    assert!(!err.contains("blocking engine"), "{err}");
    assert_eq!(count(&report, "requests"), 400, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "missing"), 0, "{report}");
    assert_eq!(report["writes_percent"], 50);
    let gets = report["ops"]["get"]["requests"].as_u64().expect("gets");
    let sets = report["ops"]["set"]["requests"].as_u64().expect("sets");
    assert_eq!(gets + sets, 400, "{report}");
    assert!((100..=300).contains(&sets), "{report}");
    assert_percentiles_ordered(&report["ops"]["get"]["latency_ms"]);
    assert_percentiles_ordered(&report["ops"]["set"]["latency_ms"]);
    // /v1 stores the raw bytes.
    let got = client(&host, &["get", &key_name(7)]);
    assert_eq!(
        stdout(&got).trim_end().as_bytes(),
        value_for(7, 100).as_slice()
    );
}

#[test]
fn a_timed_bench_prints_progress_and_a_text_report() {
    let server = server(&[]);
    let host = server.base_url();
    let out = client(
        &host,
        &[
            "bench",
            "get",
            "--duration",
            "1500ms",
            "--keys",
            "10",
            "--connections",
            "2",
        ],
    );
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("bench:   1 s, "), "{err}");
    assert!(err.contains(" req/s, "), "{err}");
    // Nothing was preloaded: every get found nothing, which is not a failure.
    assert!(err.contains("gets found no value"), "{err}");
    let text = stdout(&out);
    assert!(
        text.starts_with("get on GET /get?key=: 2 connections"),
        "{text}"
    );
    assert!(text.contains(" req/s"), "{text}");
    assert!(text.contains("p99.9 "), "{text}");
}

#[test]
fn failed_requests_are_counted_by_kind_and_exit_4() {
    let server = server(&["--max-value-bytes", "10"]);
    let (report, err) = bench(
        &server.base_url(),
        &words("set --requests 20 --keys 5 --connections 2"),
        4,
    );
    assert_eq!(count(&report, "requests"), 20, "{report}");
    assert_eq!(count(&report, "errors"), 20, "{report}");
    assert_eq!(report["errors_by_kind"]["413 payload_too_large"], 20);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: 20 of 20 requests failed; the first: 413 payload_too_large"),
        "{err}"
    );

    // A preload that fails stops before measuring.
    let out = client(
        &server.base_url(),
        &["bench", "get", "--preload", "--requests", "10"],
    );
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("error: the preload failed: 413"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn an_unreachable_server_exits_3_and_bad_options_exit_2() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = client(&format!("127.0.0.1:{port}"), &["bench", "get"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).starts_with("error: cannot reach the server"),
        "{}",
        stderr(&out)
    );
    for bad in [
        &["bench", "mixed", "--writes", "101"][..],
        &["bench", "get", "--keys", "0"],
        &["bench", "get", "--duration", "soon"],
        &["bench", "get", "--threads", "0"],
        &["bench", "fetch"],
    ] {
        let out = client(&format!("127.0.0.1:{port}"), bad);
        assert_exit(&out, 2);
    }
}

#[test]
fn the_token_is_sent_and_a_wrong_one_counts_401s() {
    let server = server_with_env(&[], &[("KVSTORE_AUTH_TOKEN", TOKEN)]);
    let host = server.base_url();
    let set = ["set", "--requests", "200", "--keys", "20", "--token", TOKEN];
    let (report, _) = bench(&host, &set, 0);
    assert_eq!(count(&report, "errors"), 0, "{report}");
    let got = client(&host, &["--token", TOKEN, "get", &key_name(3)]);
    assert_exit(&got, 0);
    assert_eq!(
        stdout(&got).trim_end().as_bytes(),
        value_for(3, 100).as_slice()
    );

    let wrong = "not-the-bench-token-0123456789";
    for token in [&["--token", wrong][..], &[]] {
        let mut args = words("get --requests 50 --keys 20 --api v1");
        args.extend_from_slice(token);
        let (report, err) = bench(&host, &args, 4);
        assert_eq!(count(&report, "errors"), 50, "{report}");
        assert_eq!(report["errors_by_kind"]["401 unauthorized"], 50, "{report}");
        assert!(err.contains("the first: 401 unauthorized: "), "{err}");
    }
}

#[test]
fn connections_the_server_closes_are_opened_again() {
    // Without keep-alive, every answer says `Connection: close`.
    let server = server(&["--keep-alive-secs", "0"]);
    let args = words("mixed --writes 50 --requests 300 --keys 30 --connections 4");
    let (report, _) = bench(&server.base_url(), &args, 0);
    assert_eq!(count(&report, "requests"), 300, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
}

#[test]
fn https_runs_on_the_blocking_engine_with_the_clients_settings() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca = TestCa::create(dir.path());
    let tls = ca.server_args();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let server = server_with_env(&tls, &[("KVSTORE_AUTH_TOKEN", TOKEN)]);
    // By name: the blocking engine looks it up once.
    let host = format!("https://localhost:{}", server.addr().port());
    let cacert = ca.ca_pem().to_str().expect("a UTF-8 path");
    let mut args = words("mixed --api v1 --preload --requests 200 --keys 20 --connections 3");
    args.extend_from_slice(&["--cacert", cacert, "--token", TOKEN]);
    let (report, err) = bench(&host, &args, 0);
    assert_eq!(report["engine"], "blocking", "{report}");
    assert!(err.starts_with("bench: blocking engine"), "{err}");
    assert_eq!(count(&report, "requests"), 200, "{report}");
    assert_eq!(count(&report, "errors"), 0, "{report}");
    assert_eq!(count(&report, "missing"), 0, "{report}");

    let no_token = ["get", "--requests", "10", "--cacert", cacert];
    let (report, _) = bench(&host, &no_token, 4);
    assert_eq!(report["errors_by_kind"]["401 unauthorized"], 10, "{report}");
}

/// `--api seed`, the old name of `--api basic`, is still taken (hidden from
/// the help).
#[test]
fn the_old_api_name_is_still_taken() {
    let server = TestServer::start(cargo_bin("server"), &["--in-memory"]);
    let host = server.base_url();
    let out = client(
        &host,
        &[
            "--json",
            "bench",
            "get",
            "--api",
            "seed",
            "--requests",
            "20",
            "--keys",
            "5",
        ],
    );
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["api"], "basic");
    let help = client(&host, &["bench", "--help"]);
    assert!(!stdout(&help).contains("seed"), "{}", stdout(&help));
}
