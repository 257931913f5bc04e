//! `client sub`: the real `client` binary streaming changes from the real
//! `server` binary (and from a real `nats-server`), read line by line.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kv_client::KvClient;
use kv_testkit::{cargo_bin, NatsServer, TestServer};
use serde_json::Value;

/// How long any expected line or exit may take.
const DEADLINE: Duration = Duration::from_secs(20);

/// A running `client sub`, its stdout read line by line on a thread; killed
/// when dropped.
struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Sub {
    fn start(host: &str, args: &[&str]) -> Sub {
        let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
            .args(args)
            .env_clear()
            .env("KVSTORE_SERVER_HOST", host)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client sub");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (tx, stderr_text) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        Sub {
            child,
            lines,
            stderr: stderr_text,
        }
    }

    /// The next line that is not about a probe key.
    fn next_line(&self, expecting: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("probe") => continue,
                Ok(line) => return line,
                Err(e) => panic!(
                    "client sub printed no line within {DEADLINE:?} ({e}); expecting {expecting}"
                ),
            }
        }
    }

    /// Waits for the process to exit; its status and stderr.
    fn exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "client sub did not exit within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = self.stderr.recv_timeout(DEADLINE).unwrap_or_default();
        (status, stderr)
    }
}

impl Sub {
    /// Kills the process; everything it printed on stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.recv_timeout(DEADLINE).unwrap_or_default()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(args: &[&str]) -> TestServer {
    TestServer::start(cargo_bin("server"), args)
}

fn api(server: &TestServer) -> KvClient {
    KvClient::new(&server.addr().to_string().parse().expect("an address"))
}

/// Runs `client ARGS` against `host` and checks it succeeded.
fn client(host: &str, args: &[&str]) -> Output {
    let output = common::client(host, args);
    common::assert_exit(&output, 0);
    output
}

/// The revision in the JSON answer of `client --json set|rm`.
fn rev_of(output: &Output) -> u64 {
    let body: Value = serde_json::from_slice(&output.stdout).expect("a JSON answer");
    body["rev"].as_u64().expect("a rev")
}

/// Writes the probe key `key` until every sub has printed a line for it:
/// then they are subscribed, and later changes reach them.
fn wait_until_subscribed(subs: &[&Sub], api: &KvClient, key: &str) {
    let deadline = Instant::now() + DEADLINE;
    let mut ready = vec![false; subs.len()];
    for n in 0.. {
        api.set(key, &format!("probe{n}")).expect("set a probe");
        for (sub, ready) in subs.iter().zip(&mut ready) {
            if !*ready {
                if let Ok(line) = sub.lines.recv_timeout(Duration::from_millis(100)) {
                    assert!(line.contains(key), "before any probe: {line:?}");
                    *ready = true;
                }
            }
        }
        if ready.iter().all(|r| *r) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "client sub printed no probe within {DEADLINE:?}"
        );
    }
}

/// A JSON line of `sub --json`: `(rev, op, key, val)`.
fn event(line: &str) -> (u64, String, String, Option<String>) {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
    (
        v["rev"].as_u64().expect("rev"),
        v["op"].as_str().expect("op").to_owned(),
        v["key"].as_str().expect("key").to_owned(),
        v["val"].as_str().map(str::to_owned),
    )
}

#[test]
fn sub_prints_the_original_lines_and_json() {
    let server = server(&[]);
    let host = server.base_url();
    let plain = Sub::start(&host, &["sub"]);
    let json = Sub::start(&host, &["sub", "--json", "--prefix", "a"]);
    wait_until_subscribed(&[&plain, &json], &api(&server), "a-probe");

    client(&host, &["set", "k1", "v1"]);
    client(&host, &["rm", "k1"]);
    assert_eq!(plain.next_line("the set"), "Set: {key: k1, val: v1}");
    assert_eq!(plain.next_line("the rm"), "Remove: {key: k1}");

    let a1 = rev_of(&client(&host, &["--json", "set", "a1", "x"]));
    client(&host, &["set", "b1", "y"]);
    let rm_a1 = rev_of(&client(&host, &["--json", "rm", "a1"]));
    let a2 = rev_of(&client(&host, &["--json", "set", "a2", "hello world"]));
    for expected in [
        "Set: {key: a1, val: x}",
        "Set: {key: b1, val: y}",
        "Remove: {key: a1}",
        "Set: {key: a2, val: hello world}",
    ] {
        assert_eq!(plain.next_line(expected), expected);
    }
    // Only keys under `a`, in order: b1 (written before a2) would show
    // up before a2.
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        event(&json.next_line("a1")),
        (a1, "set".into(), "a1".into(), some("x"))
    );
    assert_eq!(
        event(&json.next_line("rm a1")),
        (rm_a1, "rm".into(), "a1".into(), None)
    );
    assert_eq!(
        event(&json.next_line("a2")),
        (a2, "set".into(), "a2".into(), some("hello world"))
    );
}

#[test]
fn sub_resumes_after_the_server_restarts() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("a working directory");
    let start = || TestServer::start_in(cargo_bin("server"), dir.path(), &["--host", &addr], &[]);
    let mut server = start();
    let host = server.base_url();
    let sub = Sub::start(&host, &["sub", "--json", "--from-rev", "1"]);
    let api = api(&server);
    let mut expected = Vec::new();
    for i in 1..=3 {
        let (key, val) = (format!("k{i}"), format!("v{i}"));
        let rev = api.set(&key, &val).expect("set").rev;
        expected.push((rev, "set".to_owned(), key, Some(val)));
    }
    for e in &expected {
        assert_eq!(&event(&sub.next_line(&e.2)), e);
    }

    server.signal("TERM");
    assert!(server.wait().success(), "the server did not stop cleanly");
    let server = start();
    assert_eq!(server.base_url(), host);
    for i in 4..=6 {
        let (key, val) = (format!("k{i}"), format!("v{i}"));
        let rev = api.set(&key, &val).expect("set after the restart").rev;
        expected.push((rev, "set".to_owned(), key, Some(val)));
    }
    assert_eq!(
        expected.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<u64>>()
    );
    // After the restart: 4, 5, 6, then the marker; anything printed twice
    // would come before them.
    for e in &expected[3..] {
        assert_eq!(&event(&sub.next_line(&e.2)), e);
    }
    let rev = api.set("end", "marker").expect("set").rev;
    assert_eq!(
        event(&sub.next_line("the marker")),
        (rev, "set".into(), "end".into(), Some("marker".into()))
    );
    let stderr = sub.stop();
    assert!(
        stderr.contains("reconnecting from revision 4"),
        "the sub did not report resuming from revision 4: {stderr}"
    );
    drop(server);
}

#[test]
fn sub_exits_6_when_events_are_lost() {
    let server = server(&["--feed-ring-events", "10"]);
    let api = api(&server);
    for i in 1..=50 {
        api.set(&format!("k{i}"), "v").expect("set");
    }
    let sub = Sub::start(&server.base_url(), &["sub", "--from-rev", "1"]);
    let (status, stderr) = sub.exit();
    assert_eq!(status.code(), Some(6), "stderr: {stderr}");
    assert!(
        stderr.contains("events from revision 1 to 40 are lost"),
        "stderr does not name the lost revisions 1 to 40: {stderr}"
    );
}

#[test]
fn sub_from_nats() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let server = server(&["--nats-url", &nats.url()]);
    let host = server.base_url();
    let sub = Sub::start(&host, &["sub", "--nats", &nats.url()]);
    // The server's publisher and the subscription both connect in the
    // background.
    wait_until_subscribed(&[&sub], &api(&server), "probe");
    client(&host, &["set", "k1", "v1"]);
    client(&host, &["rm", "k1"]);
    assert_eq!(sub.next_line("the set"), "Set: {key: k1, val: v1}");
    assert_eq!(sub.next_line("the rm"), "Remove: {key: k1}");
}

/// The bytes of a value field of a JSON answer or event, decoding base64
/// when its `encoding` field says so.
fn value_bytes(body: &Value, field: &str, encoding: &str) -> Vec<u8> {
    let text = body[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"));
    kv_core::value_text::from_text(text, body[encoding].as_str()).expect("a valid value")
}

/// Runs `client ARGS` with `input` on stdin and checks it succeeded.
fn client_with_stdin(host: &str, args: &[&str], input: &[u8]) -> Output {
    let output = common::client_with_stdin(host, args, input);
    common::assert_exit(&output, 0);
    output
}

/// A value holding every byte value keeps its exact bytes on every surface:
/// put and get, the basic `/get`, `/set` and `/rm` answers, the watch stream
/// (`val` and `prev`), NATS, `client sub`, export and import, backup and
/// restore. (Before, the basic routes and the feed replaced invalid UTF-8
/// with U+FFFD and `client get` added a newline.)
#[test]
fn binary_values_round_trip_through_every_surface() {
    let all: Vec<u8> = (0..=255).collect();
    let nats = NatsServer::start();
    let nats_args = nats
        .as_ref()
        .map(|n| vec!["--nats-url".to_owned(), n.url()]);
    let args: Vec<&str> = nats_args.iter().flatten().map(String::as_str).collect();
    let origin = server(&args);
    let host = origin.base_url();
    let api = api(&origin);
    let from_server = Sub::start(&host, &["--json", "sub", "--prefix", "bin/blob"]);
    let from_nats = nats.as_ref().map(|n| {
        Sub::start(
            &host,
            &["--json", "sub", "--nats", &n.url(), "--prefix", "bin/blob"],
        )
    });
    let subs: Vec<&Sub> = [Some(&from_server), from_nats.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    wait_until_subscribed(&subs, &api, "bin/blob-probe");
    let watch_from = api.set("other/start", "text").expect("set").rev + 1;

    // put, get, and the basic /get.
    client_with_stdin(&host, &["put", "bin/blob"], &all);
    let got = client(&host, &["-o", "raw", "get", "bin/blob"]);
    assert_eq!(got.stdout, all, "client get writes the exact bytes");
    let seed_get: Value = ureq::get(&format!("{host}/get?key=bin/blob"))
        .call()
        .expect("GET /get")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert_eq!(seed_get["encoding"], "base64", "{seed_get}");
    assert_eq!(value_bytes(&seed_get, "inserted_val", "encoding"), all);

    // /set and /rm give back the binary value they replaced or removed.
    let set = client(&host, &["--json", "set", "bin/blob", "text"]);
    let set: Value = serde_json::from_slice(&set.stdout).expect("JSON");
    assert_eq!(value_bytes(&set, "ejected_val", "encoding"), all, "{set}");
    client_with_stdin(&host, &["put", "bin/blob"], &all);
    let rm = client(&host, &["--json", "rm", "bin/blob"]);
    let rm: Value = serde_json::from_slice(&rm.stdout).expect("JSON");
    assert_eq!(value_bytes(&rm, "ejected_val", "encoding"), all, "{rm}");
    client_with_stdin(&host, &["put", "bin/blob"], &all);

    // The feed: client sub from the server and from NATS.
    for sub in &subs {
        let line = sub.next_line("the first put");
        let event: Value = serde_json::from_str(&line).expect("a JSON line");
        assert_eq!(value_bytes(&event, "val", "encoding"), all, "{line}");
    }
    // The watch stream's `prev` (the set replaced the binary value).
    let params = kv_client::watch::WatchParams {
        prefix: Some("bin/blob".into()),
        prev: true,
        ..Default::default()
    };
    let stream = api.watch(&params, Some(watch_from)).expect("watch");
    let set_event = stream
        .filter_map(|item| match item.expect("parses") {
            kv_client::watch::WatchItem::Event(e) if e.op == "set" && e.prev.is_some() => Some(e),
            _ => None,
        })
        .next()
        .expect("the set's event");
    let prev = serde_json::to_value(&set_event).expect("JSON");
    assert_eq!(value_bytes(&prev, "prev", "prev_encoding"), all, "{prev}");

    // Export and import.
    let dir = tempfile::tempdir().expect("a temp dir");
    let export = client(&host, &["export", "--prefix", "bin/blob"]);
    let file = dir.path().join("kv.ndjson");
    std::fs::write(&file, &export.stdout).expect("write the export");
    api.rm("bin/blob").expect("rm");
    client(&host, &["import", file.to_str().expect("UTF-8")]);
    assert_eq!(
        client(&host, &["-o", "raw", "get", "bin/blob"]).stdout,
        all,
        "after import"
    );

    // Backup and restore.
    let backup = dir.path().join("kv.snap");
    client(&host, &["backup", backup.to_str().expect("UTF-8")]);
    let restored = dir.path().join("restored");
    let status = Command::new(cargo_bin("server"))
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .env_clear()
        .output()
        .expect("server restore");
    assert!(status.status.success(), "{status:?}");
    let copy = server(&["--data-dir", restored.to_str().expect("UTF-8")]);
    assert_eq!(
        client(&copy.base_url(), &["-o", "raw", "get", "bin/blob"]).stdout,
        all,
        "after restore"
    );
}
