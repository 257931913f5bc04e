//! A bounded fuzz of `GET /v1/watch`: random combinations of its query
//! parameters (well-formed or not, revisions up to and past 64 bits) and
//! `Last-Event-ID` values (garbage included), each sent on its own
//! connection. Every answer must come within a few seconds and be either a
//! 200 event stream whose first event parses, or a JSON error with a 4xx
//! status; and it must agree with the served OpenAPI document's patterns.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use regex::Regex;
use serde_json::Value;

use crate::start;

/// How long an answer (its head, then its first event) may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests sent: enough to meet every kind of input, quick (under 2 s).
const CASES: u32 = 300;

/// One watch request.
#[derive(Debug, Clone)]
struct WatchRequest {
    /// Query parameters, in order; values are percent-encoded when sent.
    query: Vec<(String, String)>,
    /// `Last-Event-ID`, as raw header bytes.
    last_event_id: Option<Vec<u8>>,
}

fn revision_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..8).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("99999999999999999999999".to_owned()),
        "[-+]?[0-9]{1,3}(\\.[0-9])?",
        "[ a-z0-9%]{0,6}",
    ]
}

fn ops_text() -> impl Strategy<Value = String> {
    let op = prop_oneof![Just("set"), Just("rm"), Just("expire")];
    prop_oneof![
        proptest::collection::vec((op, "[ \t]?", "[ \t]?"), 1..4).prop_map(|ops| {
            let ops: Vec<String> = ops
                .into_iter()
                .map(|(op, before, after)| format!("{before}{op}{after}"))
                .collect();
            ops.join(",")
        }),
        "[a-z, ]{0,8}",
    ]
}

fn watch_request() -> impl Strategy<Value = WatchRequest> {
    let text = "\\PC{0,6}";
    (
        proptest::option::of(text),
        proptest::option::of(text),
        proptest::option::of(ops_text()),
        proptest::option::of(prop_oneof![Just("true"), Just("false"), Just("yes")]),
        proptest::option::of(revision_text()),
        proptest::option::of(prop_oneof![Just("x".to_owned()), Just("from".to_owned()),]),
        proptest::option::of(prop_oneof![
            revision_text().prop_map(String::into_bytes),
            proptest::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..12),
        ]),
    )
        .prop_map(
            |(key, prefix, ops, prev, from_rev, unknown, last_event_id)| {
                let mut query = Vec::new();
                for (name, value) in [
                    ("key", key),
                    ("prefix", prefix),
                    ("ops", ops),
                    ("prev", prev.map(str::to_owned)),
                    ("from_rev", from_rev),
                    ("unknown", unknown),
                ] {
                    if let Some(value) = value {
                        query.push((name.to_owned(), value));
                    }
                }
                WatchRequest {
                    query,
                    last_event_id,
                }
            },
        )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the served document says about a watch request's inputs.
struct Document {
    ops: Regex,
    last_event_id: Regex,
}

impl Document {
    fn fetch(server: &kv_testkit::TestServer) -> Self {
        let doc: Value = kv_testkit::http::get(&server.url("/openapi.json")).json();
        let parameters = doc["paths"]["/v1/watch"]["get"]["parameters"]
            .as_array()
            .expect("watch parameters")
            .clone();
        let pattern = |name: &str| {
            let parameter = parameters
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("no {name} parameter"));
            let pattern = parameter["schema"]["pattern"]
                .as_str()
                .unwrap_or_else(|| panic!("no pattern for {name}"));
            Regex::new(pattern).expect("a valid pattern")
        };
        Document {
            ops: pattern("ops"),
            last_event_id: pattern("Last-Event-ID"),
        }
    }

    /// Whether the document takes the request (`Some`), refuses it
    /// (`Some(false)`), or leaves it open (`None`: a revision written in a
    /// form a query string allows but JSON Schema's `integer` does not say).
    fn takes(&self, request: &WatchRequest) -> Option<bool> {
        let mut verdict = Some(true);
        for (name, value) in &request.query {
            let takes = match name.as_str() {
                "key" | "prefix" => Some(true),
                "ops" => Some(self.ops.is_match(value)),
                "prev" => Some(value == "true" || value == "false"),
                "from_rev" if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() => {
                    Some(value.parse::<u64>().is_ok())
                }
                "from_rev" if value.starts_with('+') => None,
                _ => Some(false),
            };
            verdict = both(verdict, takes);
        }
        if let Some(id) = &request.last_event_id {
            // Header values that are not text cannot match the pattern.
            let id = std::str::from_utf8(id).unwrap_or("\u{0}");
            if self.last_event_id.is_match(id) {
                return verdict;
            }
            // The pattern bounds the digits, leaving out the longest
            // revisions that still have a next one (see its doc).
            let long_revision = id.trim().parse::<u64>().is_ok_and(|rev| rev < u64::MAX);
            verdict = both(verdict, if long_revision { None } else { Some(false) });
        }
        verdict
    }
}

/// Two verdicts together: refused if either refuses, open if either is.
fn both(one: Option<bool>, other: Option<bool>) -> Option<bool> {
    match (one, other) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// An answer: status, content type, and the body up to the first event of
/// a stream (the whole body otherwise).
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn send(addr: SocketAddr, request: &WatchRequest) -> Result<Answer, String> {
    let query: Vec<String> = request
        .query
        .iter()
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect();
    let mut raw = format!(
        "GET /v1/watch?{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
        query.join("&")
    )
    .into_bytes();
    if let Some(id) = &request.last_event_id {
        raw.extend_from_slice(b"Last-Event-ID: ");
        raw.extend_from_slice(id);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream.write_all(&raw).map_err(|e| format!("send: {e}"))?;
    read_answer(&mut stream)
}

/// Reads the head, then either the first event of a chunked event stream
/// or the whole body.
fn read_answer(stream: &mut TcpStream) -> Result<Answer, String> {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&received, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, &mut received)?;
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    let header = |name: &str| {
        head.lines()
            .find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let content_type = header("content-type");
    let mut body = received.split_off(head_end);
    if header("transfer-encoding").eq_ignore_ascii_case("chunked") {
        loop {
            let text = dechunk(&body);
            if find(&text, b"\n\n").is_some() {
                body = text;
                break;
            }
            read_more(stream, &mut body)?;
        }
    } else {
        let length: usize = header("content-length").parse().unwrap_or(0);
        while body.len() < length {
            read_more(stream, &mut body)?;
        }
    }
    Ok(Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn read_more(stream: &mut TcpStream, into: &mut Vec<u8>) -> Result<(), String> {
    let mut buffer = [0; 4096];
    match stream.read(&mut buffer) {
        Ok(0) => Err(format!(
            "the connection closed early: {:?}",
            String::from_utf8_lossy(into)
        )),
        Ok(n) => {
            into.extend_from_slice(&buffer[..n]);
            Ok(())
        }
        Err(e) => Err(format!("no answer within {ANSWER_TIMEOUT:?}: {e}")),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The data of the complete chunks in `raw`.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(line_end) = find(raw, b"\r\n") {
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size else { break };
        let start = line_end + 2;
        if raw.len() < start + size {
            break;
        }
        data.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    data
}

/// The first event of a stream: its `event:` name and parsed `data:`.
fn first_event(body: &str) -> Result<(String, Value), String> {
    let block = body.split("\n\n").next().unwrap_or_default();
    let field = |name: &str| {
        block
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let event = field("event:").ok_or_else(|| format!("no event: in {block:?}"))?;
    let data = field("data:").ok_or_else(|| format!("no data: in {block:?}"))?;
    let data: Value =
        serde_json::from_str(data).map_err(|e| format!("data is not JSON ({e}): {data:?}"))?;
    Ok((event.to_owned(), data))
}

/// Whether `request` asks to start after revision `store_rev + 1`.
fn starts_beyond(request: &WatchRequest, store_rev: u64) -> bool {
    let from_rev = || {
        request
            .query
            .iter()
            .find(|(name, _)| name == "from_rev")
            .and_then(|(_, value)| value.parse::<u64>().ok())
    };
    let start = match &request.last_event_id {
        Some(id) => std::str::from_utf8(id)
            .ok()
            .and_then(|id| id.trim().parse::<u64>().ok())
            .map(|id| id.saturating_add(1)),
        None => from_rev(),
    };
    start.is_some_and(|start| start > store_rev + 1)
}

fn check(
    addr: SocketAddr,
    document: &Document,
    store_rev: u64,
    request: &WatchRequest,
) -> Result<(), TestCaseError> {
    let answer = send(addr, request).map_err(TestCaseError::fail)?;
    match answer.status {
        200 => {
            prop_assert_eq!(&answer.content_type, "text/event-stream");
            let (event, data) = first_event(&answer.body).map_err(TestCaseError::fail)?;
            prop_assert!(
                ["progress", "set", "rm", "expire"].contains(&event.as_str()),
                "first event {event:?}"
            );
            prop_assert!(data["rev"].is_u64(), "first event's data {data}");
        }
        400..=499 => {
            prop_assert_eq!(&answer.content_type, "application/json");
            let body: Value = serde_json::from_str(&answer.body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {:?}", answer.body)))?;
            prop_assert!(body["error"]["code"].is_string(), "error body {body}");
            prop_assert!(body["error"]["message"].is_string(), "error body {body}");
        }
        other => prop_assert!(false, "answered {other}: {:?}", answer.body),
    }
    match document.takes(request) {
        // Starting past the next revision may be refused, as the future is
        // not the feed's to give.
        Some(true) if starts_beyond(request, store_rev) => {
            prop_assert!([200, 400].contains(&answer.status), "{:?}", answer.body);
        }
        Some(true) => prop_assert_eq!(answer.status, 200, "{:?}", answer.body),
        Some(false) => prop_assert_eq!(answer.status, 400, "{:?}", answer.body),
        None => {}
    }
    Ok(())
}

#[test]
fn every_watch_request_gets_a_stream_or_a_json_error() {
    let server = start(&["--in-memory", "--watch-heartbeat-ms", "50"]);
    let mut store_rev = 0;
    for i in 0..5 {
        let reply = kv_testkit::http::post_json(
            &server.url("/set"),
            &serde_json::json!({"key": format!("k{i}"), "val": "v"}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        store_rev = reply.json()["rev"].as_u64().expect("a revision");
    }
    let document = Document::fetch(&server);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let addr = server.addr();
    if let Err(failure) = runner.run(&watch_request(), |request| {
        check(addr, &document, store_rev, &request)
    }) {
        panic!("{failure}");
    }
}

#[test]
fn a_last_event_id_with_no_next_revision_is_400() {
    let server = start(&["--in-memory"]);
    let request = WatchRequest {
        query: Vec::new(),
        last_event_id: Some(u64::MAX.to_string().into_bytes()),
    };
    let answer = send(server.addr(), &request).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
}
