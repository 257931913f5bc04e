//! ServerContext by the change-feed tests: the change record, the checks, a
//! deterministic generator.

pub use kv_testkit::Lcg;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kv_client::watch::WatchStream;
use kv_client::KvClient;
use kv_core::api::WatchEvent;
use kv_testkit::TestServer;

/// Opens `GET /v1/watch?QUERY` with `headers` (no overall time limit: the
/// stream stays open). A 200 gives the event stream; any other status
/// gives the status and the body.
pub fn open_watch(
    server: &TestServer,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<WatchStream, (u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut request = agent.get(server.url(&format!("/v1/watch?{query}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .call()
        .unwrap_or_else(|e| panic!("GET /v1/watch?{query}: {e}"));
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.body_mut().read_to_string().unwrap_or_default();
        return Err((status, body));
    }
    Ok(WatchStream::new(Box::new(
        response.into_body().into_reader(),
    )))
}

/// How long a stalled watch may take to answer or to be closed.
const DEADLINE: Duration = Duration::from_secs(60);

/// Opens a watch on a raw socket, waits until the server has answered
/// (peeking, so nothing is taken from the socket), and never reads it.
pub fn stalled_watch(server: &TestServer, from: u64) -> TcpStream {
    let mut socket = TcpStream::connect(server.addr()).expect("connect");
    write!(
        socket,
        "GET /v1/watch?from_rev={from} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr()
    )
    .expect("send the request");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("set a timeout");
    let deadline = Instant::now() + DEADLINE;
    let mut head = [0u8; 64];
    loop {
        let n = socket.peek(&mut head).unwrap_or(0);
        if head[..n].starts_with(b"HTTP/1.1 200") {
            return socket;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled watch got no 200 answer: {:?}",
            String::from_utf8_lossy(&head[..n])
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads the whole answer until the server closes the connection.
pub fn read_all(mut socket: TcpStream) -> Vec<u8> {
    let deadline = Instant::now() + DEADLINE;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the stalled watch: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the stalled watch was not closed within {DEADLINE:?} after {} bytes",
            raw.len()
        );
    }
}

/// The body of a raw HTTP/1.1 answer, de-chunked; and whether it ended
/// properly (the last chunk, or a close-delimited body).
pub fn body_of(raw: &[u8]) -> (Vec<u8>, bool) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    let mut rest = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (rest.to_vec(), true);
    }
    let mut body = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|e| panic!("bad chunk size {size_text:?}: {e}"));
        rest = &rest[eol + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..size.min(rest.len())]);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// A committed change, as a writer saw it acknowledged or a watcher got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub rev: u64,
    pub op: String,
    pub key: String,
    pub val: Option<String>,
}

impl Change {
    /// A set of `key` to `val` at `rev`.
    pub fn set(rev: u64, key: &str, val: &str) -> Change {
        Change {
            rev,
            op: "set".into(),
            key: key.into(),
            val: Some(val.into()),
        }
    }

    /// A removal of `key` at `rev`.
    pub fn rm(rev: u64, key: &str) -> Change {
        Change {
            rev,
            op: "rm".into(),
            key: key.into(),
            val: None,
        }
    }
}

impl From<WatchEvent> for Change {
    fn from(e: WatchEvent) -> Self {
        Change {
            rev: e.rev,
            op: e.op,
            key: e.key,
            val: e.val,
        }
    }
}

/// The client library, pointed at `server`.
pub fn client_of(server: &TestServer) -> KvClient {
    KvClient::new(&server.addr().to_string().parse().expect("a server address"))
}

/// Checks that `got` is exactly `expected`: strictly increasing revisions,
/// nothing missing, nothing extra, nothing twice, the same values.
pub fn assert_exactly(name: &str, got: &[Change], expected: &[Change]) {
    for pair in got.windows(2) {
        assert!(
            pair[0].rev < pair[1].rev,
            "{name}: revision {} came after {} (out of order or twice)",
            pair[1].rev,
            pair[0].rev
        );
    }
    if got == expected {
        return;
    }
    let got_revs: BTreeSet<u64> = got.iter().map(|c| c.rev).collect();
    let expected_revs: BTreeSet<u64> = expected.iter().map(|c| c.rev).collect();
    let missing: Vec<u64> = expected_revs
        .difference(&got_revs)
        .take(10)
        .copied()
        .collect();
    let extra: Vec<u64> = got_revs
        .difference(&expected_revs)
        .take(10)
        .copied()
        .collect();
    let first = got.iter().zip(expected).position(|(g, e)| g != e);
    panic!(
        "{name}: got {} events, expected {}; missing revisions (first 10): {missing:?}; \
         unexpected revisions (first 10): {extra:?}; first difference at index {first:?}: \
         got {:?}, expected {:?}",
        got.len(),
        expected.len(),
        first.and_then(|i| got.get(i)),
        first.and_then(|i| expected.get(i)),
    );
}

/// Sorts acknowledged changes by revision and checks they are exactly
/// revisions `from..=last` (each handed out once, none unacknowledged).
pub fn sorted_contiguous(mut acked: Vec<Change>, from: u64) -> Vec<Change> {
    acked.sort_by_key(|c| c.rev);
    let revs: Vec<u64> = acked.iter().map(|c| c.rev).collect();
    let last = from + revs.len() as u64 - 1;
    assert_eq!(
        revs,
        (from..=last).collect::<Vec<u64>>(),
        "the acknowledged revisions are not exactly {from}..={last}"
    );
    acked
}
