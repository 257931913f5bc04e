//! The real `client` binary's output option (`-o text|json|raw`), its
//! errors in the CLI's own terms, its exit codes, durations and summaries,
//! against the real `server` binary.

mod common;

use common::{assert_exit, client, client_with_stdin, command, stderr, stdout};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kv_testkit::{cargo_bin, TestServer};
use serde_json::Value;

/// A value that, printed as it is, reads as two events of `sub` and two
/// lines of `list`.
const TRICKY: &str = "line1\nline2}, val: fake";

fn server() -> TestServer {
    TestServer::start(cargo_bin("server"), &["--in-memory"])
}

/// `put`s `value` (stdin) under `key`, which must succeed.
fn put(host: &str, key: &str, value: &[u8]) {
    assert_exit(&client_with_stdin(host, &["put", key], value), 0);
}

#[test]
fn text_escapes_values_so_lines_can_be_parsed() {
    let server = server();
    let host = server.base_url();
    put(&host, "tricky", TRICKY.as_bytes());
    put(&host, "binary", &[0xff, 0x00, 0x41]);
    put(&host, "tab\tkey", b"base64:not really");
    let list = client(&host, &["list"]);
    assert_exit(&list, 0);
    assert_eq!(
        stdout(&list),
        "binary\tbase64:/wBB\ntab\\tkey\t\\x62ase64:not really\ntricky\tline1\\nline2}, val: fake\n"
    );
    // export prints NDJSON unless asked for text, which is list's.
    let export = client(&host, &["-o", "text", "export"]);
    assert_eq!(stdout(&export), stdout(&list));
    let get = client(&host, &["get", "tricky"]);
    assert_eq!(stdout(&get), "line1\\nline2}, val: fake\n");
    // Raw: the exact bytes.
    let raw = client(&host, &["-o", "raw", "get", "binary"]);
    assert_eq!(raw.stdout, [0xff, 0x00, 0x41]);
    let raw = client(&host, &["get", "tricky", "--output", "raw"]);
    assert_eq!(stdout(&raw), TRICKY);
    // JSON: the server's answer; NDJSON for a list.
    for args in [&["-o", "json", "list"][..], &["--json", "list"]] {
        let out = client(&host, args);
        let lines: Vec<Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(lines.len(), 3, "{args:?}");
        assert_eq!(lines[2]["value"], TRICKY);
    }
}

#[test]
fn sub_prints_one_line_per_event_in_every_format() {
    let server = server();
    let host = server.base_url();
    for (format, expected) in [
        ("text", "Set: {key: k, val: line1\\nline2}, val: fake}\n"),
        ("json", "{\"rev\":"),
        ("raw", "Set: {key: k, val: line1\n"),
    ] {
        let mut sub = command(&host, &["-o", format, "watch", "--key", "k"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run client watch");
        let mut lines = BufReader::new(sub.stdout.take().expect("piped"));
        // The watch is open once a write made before it is not printed:
        // write until one arrives.
        let mut line = String::new();
        let reader = std::thread::spawn(move || {
            lines.read_line(&mut line).expect("read a line");
            line
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reader.is_finished() {
            assert!(Instant::now() < deadline, "{format}: no event printed");
            put(&host, "k", TRICKY.as_bytes());
            std::thread::sleep(Duration::from_millis(50));
        }
        let line = reader.join().expect("reader");
        assert!(line.starts_with(expected), "{format}: {line:?}");
        let _ = sub.kill();
        let _ = sub.wait();
    }
}

#[test]
fn a_closed_output_ends_sub_quietly() {
    let server = server();
    let host = server.base_url();
    let mut sub = command(&host, &["sub"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run client sub");
    // `client sub | head -0`: the reader goes away.
    drop(sub.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = sub.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "sub did not stop");
        put(&host, "k", b"v");
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = sub.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[test]
fn errors_name_the_cli_flags() {
    let server = server();
    let host = server.base_url();
    let out = client(&host, &["del", "--prefix", ""]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--all") && !stderr(&out).contains("all=true"));
    // https against a plain server.
    let tls = server.base_url().replace("http://", "https://");
    let out = client(&tls, &["get", "k"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("use an http:// address in --host"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("InvalidContentType"),
        "{}",
        stderr(&out)
    );
    // Files are named; bad input has its own code.
    let out = client(&host, &["txn", "/nonexistent.json"]);
    assert_exit(&out, 5);
    assert!(
        stderr(&out).contains("cannot read /nonexistent.json"),
        "{}",
        stderr(&out)
    );
    let out = client_with_stdin(&host, &["txn", "-"], "put k 3");
    assert_exit(&out, 9);
    let out = client_with_stdin(
        &host,
        &["import", "-"],
        "{\"key\":\"a\",\"value\":\"1\"}\nnot json\n",
    );
    assert_exit(&out, 9);
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert_eq!(
        stdout(&client(&host, &["get", "a"])),
        "1\n",
        "the line before is stored"
    );
}

#[test]
fn a_refused_token_names_the_flag() {
    let token = "0123456789abcdef0123456789abcdef";
    let server = TestServer::start(cargo_bin("server"), &["--in-memory", "--auth-token", token]);
    let host = server.base_url();
    let out = client(&host, &["get", "k"]);
    assert_exit(&out, 8);
    assert!(stderr(&out).contains("--token"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Authorization"), "{}", stderr(&out));
    let out = client(&host, &["--token", "wrong-wrong-wrong-wrong", "get", "k"]);
    assert_exit(&out, 8);
    assert!(
        stderr(&out).contains("refused the token given with --token"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_colour_reaches_a_pipe() {
    for env in [&[][..], &[("NO_COLOR", "1")], &[("TERM", "dumb")]] {
        let out = command("127.0.0.1:9", &["--jsno", "get", "k"])
            .envs(env.iter().copied())
            .output()
            .expect("run client");
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("Did you mean --json?"),
            "{}",
            stderr(&out)
        );
        assert!(!out.stderr.contains(&0x1b), "{env:?}: {:?}", stderr(&out));
    }
}

#[test]
fn durations_are_go_style_and_meta_shows_the_time_left() {
    let server = server();
    let host = server.base_url();
    assert_exit(&client(&host, &["put", "k", "v", "--ttl", "1h30m"]), 0);
    let meta = client(&host, &["get", "k", "--meta"]);
    let text = stdout(&meta);
    let expiry = text
        .lines()
        .find(|l| l.starts_with("expires_at: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        expiry.contains(", in 1h 29m") || expiry.contains(", in 1h 30m"),
        "{expiry}"
    );
    let json = client(&host, &["-o", "json", "get", "k", "--meta"]);
    let entry: Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert!(entry["expires_at"].is_u64());
    let out = client(&host, &["put", "k", "v", "--ttl", "-5s"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("negative"), "{}", stderr(&out));
}

#[test]
fn summaries_count_in_words() {
    let server = server();
    let host = server.base_url();
    put(&host, "one/a", b"1");
    let out = client(&host, &["del", "--prefix", "one/"]);
    assert_eq!(stdout(&out), "deleted 1 key (revision 2)\n");
    let out = client(
        &host,
        &[
            "bench",
            "set",
            "--requests",
            "5",
            "--connections",
            "1",
            "--keys",
            "1",
        ],
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains(": 1 connection, 1 key,"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let out = client("127.0.0.1:9", &["--help"]);
    let help = stdout(&out);
    assert!(help.contains("EXIT CODES:"), "{help}");
    assert!(help.contains("9  invalid input"), "{help}");
    assert!(help.contains("-o, --output"), "{help}");
}
