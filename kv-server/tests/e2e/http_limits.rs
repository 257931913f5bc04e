//! Bad input at the HTTP layer, over raw TCP where an HTTP library would not
//! send it: bodies over the limit with and without `Content-Length`
//! (chunked), too many headers, a 64 KiB header, a client that sends its
//! head one byte per second, idle keep-alive connections, and the caps on
//! connections and watchers. Each gets its 4xx/5xx, never a crash: the
//! server answers normally afterwards (and, for the slow client, during).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kv_core::api::key_path;
use kv_testkit::http::{agent, get, post_json, raw_exchange, send_with};
use kv_testkit::TestServer;
use serde_json::{json, Value};

use crate::start;

/// The status code of a raw answer (`HTTP/1.1 413 …`), or 0 if there is none.
fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The JSON body of a raw answer (with a `Content-Length` body).
fn json_body_of(answer: &str) -> Value {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body in {answer:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "not JSON: {head}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"))
}

/// Asserts a raw answer is `status` with the JSON error `code`.
fn assert_raw_error(answer: &str, status: u16, code: &str, what: &str) {
    assert_eq!(status_of(answer), status, "{what}: {answer:.300}");
    assert_eq!(
        json_body_of(answer)["error"]["code"],
        json!(code),
        "{what}: {answer:.300}"
    );
}

/// Asserts the server still answers, reads and writes.
fn assert_still_serving(server: &TestServer) {
    let set = post_json(
        &server.url("/set"),
        &json!({"key": "after", "val": "still here"}),
    );
    assert_eq!(set.status, 201, "{}", set.body);
    let read = get(&server.url("/get?key=after"));
    assert_eq!(read.json()["inserted_val"], json!("still here"));
}

/// A request with a chunked body (8 KiB chunks).
fn chunked(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(8192) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

/// A request with a `Content-Length` body.
fn with_length(method: &str, path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn bodies_over_the_limit_are_413_with_and_without_content_length() {
    // Values up to 1000 bytes; JSON bodies up to 2 x 1000 + 64 KiB.
    let server = start(&["--max-value-bytes", "1000"]);
    let json_ct = "application/json";
    let big_set = json!({"key": "big", "val": "v".repeat(200 * 1024)}).to_string();
    let big_txn =
        json!({"success": [{"put": {"key": "big", "value": "v".repeat(200 * 1024)}}]}).to_string();
    let value_over = vec![b'x'; 1001];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "POST /set with Content-Length",
            with_length("POST", "/set", json_ct, big_set.as_bytes()),
        ),
        (
            "POST /set chunked",
            chunked("POST", "/set", json_ct, big_set.as_bytes()),
        ),
        (
            "POST /v1/txn with Content-Length",
            with_length("POST", "/v1/txn", json_ct, big_txn.as_bytes()),
        ),
        (
            "POST /v1/txn chunked",
            chunked("POST", "/v1/txn", json_ct, big_txn.as_bytes()),
        ),
        (
            "PUT /v1/kv with Content-Length",
            with_length("PUT", &key_path("big"), "text/plain", &value_over),
        ),
        (
            "PUT /v1/kv chunked",
            chunked("PUT", &key_path("big"), "text/plain", &value_over),
        ),
        (
            "PUT /v1/kv chunked, far over",
            chunked("PUT", &key_path("big"), "text/plain", &vec![b'x'; 1 << 20]),
        ),
    ];
    for (what, raw) in cases {
        let answer = raw_exchange(server.addr(), &raw);
        assert_raw_error(&answer, 413, "payload_too_large", what);
    }
    // A declared 100 MB that never comes is refused at once, from the
    // header alone: no waiting for (or reading of) the body.
    for (path, content_type) in [("/set", json_ct), (key_path("big").as_str(), "text/plain")] {
        let raw = format!(
            "{} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\n\
             Content-Length: 100000000\r\nConnection: close\r\n\r\n",
            if path == "/set" { "POST" } else { "PUT" }
        );
        let began = Instant::now();
        let answer = raw_exchange(server.addr(), raw.as_bytes());
        assert_raw_error(&answer, 413, "payload_too_large", path);
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{path}: {:?}",
            began.elapsed()
        );
    }
    assert!(get(&server.url("/get?key=big")).json()["found"] == json!(false));
    // At the limit: accepted, both ways.
    let at_limit = vec![b'x'; 1000];
    let answer = raw_exchange(
        server.addr(),
        &chunked("PUT", &key_path("exact"), "text/plain", &at_limit),
    );
    assert_eq!(status_of(&answer), 201, "{answer:.300}");
    let answer = raw_exchange(
        server.addr(),
        &with_length("PUT", &key_path("exact2"), "text/plain", &at_limit),
    );
    assert_eq!(status_of(&answer), 201, "{answer:.300}");
    assert_still_serving(&server);
}

#[test]
fn conflicting_body_framing_is_refused() {
    let server = start(&[]);
    // Both Content-Length and chunked: a request-smuggling shape.
    let body = json!({"key": "smuggled", "val": "x"}).to_string();
    let raw = format!(
        "POST /set HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let answer = raw_exchange(server.addr(), raw.as_bytes());
    assert_raw_error(&answer, 400, "bad_request", "Content-Length and chunked");
    assert_eq!(
        get(&server.url("/get?key=smuggled")).json()["found"],
        json!(false)
    );
    assert_still_serving(&server);
}

/// A `GET /healthz` with `count` extra headers of `size` bytes each.
fn with_headers(count: usize, size: usize) -> Vec<u8> {
    let mut raw = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for i in 0..count {
        raw.push_str(&format!("X-Filler-{i}: {}\r\n", "a".repeat(size)));
    }
    raw.push_str("\r\n");
    raw.into_bytes()
}

#[test]
fn too_many_headers_are_431() {
    let server = start(&[]);
    let answer = raw_exchange(server.addr(), &with_headers(200, 8));
    assert_raw_error(&answer, 431, "headers_too_large", "200 headers");
    // Under the HTTP layer's ceiling of 96: served.
    let answer = raw_exchange(server.addr(), &with_headers(80, 8));
    assert_eq!(status_of(&answer), 200, "{answer:.300}");
    assert_still_serving(&server);
}

#[test]
fn a_64_kib_header_is_431_with_the_json_error() {
    let server = start(&[]);
    let answer = raw_exchange(server.addr(), &with_headers(1, 64 * 1024));
    assert_raw_error(&answer, 431, "headers_too_large", "one 64 KiB header");
    let message = json_body_of(&answer)["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("16384"), "names the limit: {message}");
    // Under the default limit of 16 KiB: served.
    let answer = raw_exchange(server.addr(), &with_headers(1, 15 * 1024));
    assert_eq!(status_of(&answer), 200, "{answer:.300}");
    // Over the HTTP layer's own ceiling (128 KiB): the same JSON error
    // (before, a bare 431 with no body).
    let answer = raw_exchange(server.addr(), &with_headers(1, 200 * 1024));
    assert_raw_error(&answer, 431, "headers_too_large", "one 200 KiB header");
    assert_still_serving(&server);
}

/// Every refusal of a request head has the JSON error shape, however far
/// over a limit or however malformed (before, a 100 KB request line got a
/// bare 400 and a 200 KB header a bare 431).
#[test]
fn every_refused_head_gets_the_json_error() {
    let server = start(&["--max-header-bytes", "131072"]);
    let long_line = format!(
        "GET /get?key={} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "k".repeat(100 * 1000)
    );
    let answer = raw_exchange(server.addr(), long_line.as_bytes());
    assert_raw_error(&answer, 400, "bad_request", "a 100 KB request line");
    for (raw, what) in [
        (&b"GARBAGE\r\n\r\n"[..], "not HTTP"),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "no Host"),
        (
            b"GET /\x7f HTTP/1.1\r\nHost: t\r\n\r\n",
            "a control byte in the target",
        ),
        (
            b"POST /set HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "two Content-Lengths",
        ),
    ] {
        let answer = raw_exchange(server.addr(), raw);
        assert_raw_error(&answer, 400, "bad_request", what);
    }
    let answer = raw_exchange(server.addr(), &with_headers(1, 200 * 1024));
    assert_raw_error(&answer, 431, "headers_too_large", "200 KiB over 128 KiB");
    // A pipelined request after a good one: the good one is answered, then
    // the refusal, and the connection closes.
    let mut pipelined = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec();
    pipelined.extend_from_slice(b"BAD REQUEST\r\n\r\n");
    let answer = raw_exchange(server.addr(), &pipelined);
    assert_eq!(status_of(&answer), 200, "{answer:.300}");
    let second = answer
        .find("HTTP/1.1 400")
        .map(|at| &answer[at..])
        .unwrap_or_else(|| panic!("no 400 after the 200: {answer:.600}"));
    assert_raw_error(second, 400, "bad_request", "the pipelined bad request");
    // Asking for the refusal path itself is just an unknown route.
    assert_eq!(get(&server.url("/.kv-gate/refused")).status, 404);
    assert_still_serving(&server);
}

#[test]
fn the_header_limit_is_configurable() {
    let server = start(&["--max-header-bytes", "2048"]);
    let answer = raw_exchange(server.addr(), &with_headers(1, 4096));
    assert_raw_error(
        &answer,
        431,
        "headers_too_large",
        "4 KiB over a 2 KiB limit",
    );
    // Many small headers add up too.
    let answer = raw_exchange(server.addr(), &with_headers(40, 60));
    assert_raw_error(&answer, 431, "headers_too_large", "40 x 60 bytes");
    let answer = raw_exchange(server.addr(), &with_headers(1, 1024));
    assert_eq!(status_of(&answer), 200, "{answer:.300}");
    assert_still_serving(&server);
}

/// What a slow client saw: its answer and when the connection ended.
#[derive(Debug)]
struct SlowOutcome {
    answer: String,
    bytes_sent: usize,
    /// From connecting to the end of the connection.
    lasted: Duration,
    ended_at: Instant,
}

/// Sends a request head one byte per second until the server answers or
/// closes; returns what it got. Says `ready` once connected and the first
/// byte is out.
fn send_slowly(addr: SocketAddr, ready: mpsc::Sender<()>) -> SlowOutcome {
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("set a read timeout");
    let began = Instant::now();
    let mut answer = Vec::new();
    let mut bytes_sent = 0;
    let mut buf = [0u8; 1024];
    loop {
        if bytes_sent < head.len() && stream.write_all(&head[bytes_sent..=bytes_sent]).is_ok() {
            bytes_sent += 1;
            if bytes_sent == 1 {
                let _ = ready.send(());
            }
        }
        // Waits up to a second (the pace), returning early on an answer.
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the slow client was never cut off"
        );
    }
    SlowOutcome {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        bytes_sent,
        lasted: began.elapsed(),
        ended_at: Instant::now(),
    }
}

/// Slow clients at once; more than the server's one worker.
const SLOW_CLIENTS: usize = 4;

#[test]
fn a_slow_header_sender_is_cut_off_while_others_are_served() {
    // One worker: the slow clients must not hold it. They are cut off
    // after 2 s; until then, everyone else is served.
    let server = start(&["--header-timeout-ms", "2000", "--workers", "1"]);
    let addr = server.addr();
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    for _ in 0..SLOW_CLIENTS {
        let (tx, ready) = (tx.clone(), ready_tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send(send_slowly(addr, ready));
        });
    }
    drop(tx);
    for _ in 0..SLOW_CLIENTS {
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a slow client connected");
    }
    // While they dribble, others are served, each on a new connection.
    let began = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut served_at = Vec::new();
    let mut outcomes = Vec::new();
    while outcomes.len() < SLOW_CLIENTS {
        let request = Instant::now();
        let reply = post_json(
            &server.url("/set"),
            &json!({"key": format!("k{}", served_at.len()), "val": "v"}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(get(&server.url("/healthz")).status, 200);
        slowest = slowest.max(request.elapsed());
        served_at.push(Instant::now());
        while let Ok(outcome) = rx.try_recv() {
            outcomes.push(outcome);
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(began.elapsed() < Duration::from_secs(60), "{outcomes:?}");
    }
    for outcome in &outcomes {
        assert_raw_error(&outcome.answer, 408, "request_timeout", "a slow head");
        assert!(
            outcome.lasted >= Duration::from_millis(1900)
                && outcome.lasted < Duration::from_secs(15),
            "closed after {:?}, the timeout is 2 s",
            outcome.lasted
        );
        assert!(outcome.bytes_sent < 15, "{outcome:?}");
    }
    // Served while every slow client was still connected: had they held
    // the worker, nothing would have been answered before the first cut.
    let first_cut = outcomes.iter().map(|o| o.ended_at).min().expect("outcomes");
    let during = served_at.iter().filter(|at| **at < first_cut).count();
    assert!(
        during >= 3,
        "only {during} requests answered while the slow clients were connected \
         (slowest {slowest:?})"
    );
    assert!(
        slowest < Duration::from_millis(1500),
        "a request took {slowest:?} while the slow clients were connected"
    );
}

/// Reads one answer with a `Content-Length` body from `stream`.
fn read_answer(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read an answer");
        assert!(
            n > 0,
            "closed mid-answer: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("a length"))
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// The answer to one request on a kept-alive connection, and how long
/// after it the server closes the idle connection.
fn idle_close_after(addr: SocketAddr) -> (String, Duration) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let answer = read_answer(&mut stream);
    assert_eq!(status_of(&answer), 200, "{answer}");
    let answered = Instant::now();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "more after the answer: {rest:?}");
    (answer.to_ascii_lowercase(), answered.elapsed())
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_keep_alive_time() {
    let server = start(&["--keep-alive-secs", "1"]);
    let (answer, after) = idle_close_after(server.addr());
    assert!(!answer.contains("connection: close"), "{answer}");
    // Not at once (the timer may fire up to 500 ms early: see above).
    assert!(
        after >= Duration::from_millis(500) && after < Duration::from_secs(10),
        "closed after {after:?}, keep-alive is 1 s"
    );
    // 0: one request per connection, closed with the answer.
    let server = start(&["--keep-alive-secs", "0"]);
    let (answer, after) = idle_close_after(server.addr());
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    // One worker, two connections; idle ones are kept for a long time.
    let server = start(&[
        "--workers",
        "1",
        "--max-connections",
        "2",
        "--keep-alive-secs",
        "60",
        "--header-timeout-ms",
        "60000",
    ]);
    let open = |request: bool| {
        let mut stream = TcpStream::connect(server.addr()).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        if request {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                .expect("send");
            let answer = read_answer(&mut stream);
            assert_eq!(status_of(&answer), 200, "{answer}");
        }
        stream
    };
    let first = open(true);
    let _second = open(true);
    // The third is accepted by the kernel but not served.
    let mut third = TcpStream::connect(server.addr()).expect("connect");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("send");
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("set a read timeout");
    let mut buf = [0u8; 1024];
    match third.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!(
            "the third connection was served over the cap: {other:?} {:?}",
            String::from_utf8_lossy(&buf)
        ),
    }
    // One closes: the third is served.
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    let began = Instant::now();
    let answer = read_answer(&mut third);
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert!(began.elapsed() < Duration::from_secs(10));
}

/// Opens a watch and returns its response (status, and the open stream).
fn open_watch(server: &TestServer) -> ureq::http::Response<ureq::Body> {
    agent()
        .get(server.url("/v1/watch"))
        .call()
        .unwrap_or_else(|e| panic!("GET /v1/watch: {e}"))
}

#[test]
fn watchers_over_the_cap_get_503_until_one_leaves() {
    let server = start(&["--max-watchers", "2", "--watch-heartbeat-ms", "100"]);
    let first = open_watch(&server);
    assert_eq!(first.status(), 200);
    let second = open_watch(&server);
    assert_eq!(second.status(), 200);
    let third = send_with(&agent(), "GET", &server.url("/v1/watch"), &[], None);
    assert_eq!(third.status, 503, "{}", third.text());
    assert_eq!(third.json()["error"]["code"], json!("unavailable"));
    // Other requests are not affected.
    assert_still_serving(&server);
    // One leaves: its slot is freed (once the server notices).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = open_watch(&server);
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 503);
        assert!(
            Instant::now() < deadline,
            "the closed watcher's slot was never freed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(second);
}
