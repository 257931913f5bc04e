//! The web console at `/ui`, tested in a real browser: the `server` binary
//! on `127.0.0.1:0`, and headless Chromium under chromedriver (from Debian:
//! `apt-get install -y chromium chromium-driver`) started by each test on
//! free ports. Without them the browser tests say so loudly and skip,
//! except under `CI=true`, where they fail. Each browser test saves
//! screenshots under `target/ui-screens/` (and one named `*-failed.png`
//! when it fails).
//!
//! - [`assets`]: the files and headers of `/ui`, over plain HTTP.
//! - [`browse`]: the tree, paging, the value views, markup shown as text,
//!   the narrow layout.
//! - [`edit`]: creating, editing, conflicts, deleting, a read-only token.
//! - [`feed`]: the live feed, pause and resume, revisions gone.
//! - [`modules`]: the page's modules (stream parser, value views) in the
//!   page itself.
//! - [`status`]: the status strip with a NATS bridge.

mod assets;
mod browse;
mod edit;
mod feed;
mod modules;
mod status;

use std::sync::{Mutex, MutexGuard};

use kv_core::api::key_path;
use kv_testkit::browser::screens_dir;
use kv_testkit::http::{send_as, Answer};
use kv_testkit::{Browser, TestServer};
use serde_json::{json, Value};

/// The full-access token of servers started with tokens.
pub const ROOT: &str = "console-root-token-4b1d9e";
/// A token that reads and watches every key and writes none.
pub const VIEWER: &str = "console-viewer-token-7c3a2f";

/// One browser test at a time: they share two cores with the build, and
/// the feed test measures a delay.
static BROWSER_TESTS: Mutex<()> = Mutex::new(());

/// Starts the server built from this package with `args`.
pub fn start_server(args: &[&str]) -> TestServer {
    TestServer::start(env!("CARGO_BIN_EXE_server"), args)
}

/// A server, a browser on it, and the token the test's API calls carry.
#[derive(Debug)]
pub struct Console {
    /// Dropped first: the browser closes before the server stops.
    pub browser: Browser,
    /// The server under test.
    pub server: TestServer,
    /// The token of this test's own API calls (None: no tokens configured).
    pub token: Option<&'static str>,
    name: &'static str,
    _token_dir: Option<tempfile::TempDir>,
    _turn: MutexGuard<'static, ()>,
}

impl Console {
    /// An in-memory server with `args` and a 1280 x 900 browser; None
    /// when the browser is not installed (outside CI).
    pub fn start(name: &'static str, args: &[&str]) -> Option<Console> {
        Self::start_sized(name, args, 1280, 900)
    }

    /// Like [`start`](Self::start), with a window of `width` x `height`.
    pub fn start_sized(
        name: &'static str,
        args: &[&str],
        width: u32,
        height: u32,
    ) -> Option<Console> {
        let mut all = vec!["--in-memory"];
        all.extend_from_slice(args);
        Self::start_exactly(name, &all, width, height)
    }

    /// A server with exactly `args` (a data directory of its own unless
    /// they say `--in-memory`) and a `width` x `height` browser.
    pub fn start_exactly(
        name: &'static str,
        args: &[&str],
        width: u32,
        height: u32,
    ) -> Option<Console> {
        let turn = BROWSER_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        forget_failure(name);
        let browser = Browser::start(width, height)?;
        Some(Console {
            browser,
            server: start_server(args),
            token: None,
            name,
            _token_dir: None,
            _turn: turn,
        })
    }

    /// A server with [`ROOT`] and [`VIEWER`] configured, and a browser.
    pub fn start_with_tokens(name: &'static str) -> Option<Console> {
        let turn = BROWSER_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        forget_failure(name);
        let browser = Browser::start(1280, 900)?;
        let dir = tempfile::tempdir().expect("a directory for the token file");
        let file = dir.path().join("tokens.json");
        let tokens = json!({"tokens": [
            {"name": "root", "token": ROOT, "read": [""], "write": [""], "watch": [""]},
            {"name": "viewer", "token": VIEWER, "read": [""], "watch": [""]},
        ]});
        write_private(&file, &tokens.to_string());
        let server = start_server(&[
            "--in-memory",
            "--auth-file",
            file.to_str().expect("a UTF-8 path"),
        ]);
        Some(Console {
            browser,
            server,
            token: Some(ROOT),
            name,
            _token_dir: Some(dir),
            _turn: turn,
        })
    }

    /// Opens the console at `place` (`folder=...&key=...`, percent-encoded)
    /// and waits until its script has started.
    pub fn open(&self, place: &str) {
        self.browser
            .goto(&format!("{}#{place}", self.server.url("/ui/")));
        self.wait(
            "the console to start",
            "return document.body.dataset.ready === 'true'",
            &[],
        );
    }

    /// Waits until `script` returns something truthy (see
    /// [`kv_testkit::browser::Session::wait_for`]).
    pub fn wait(&self, what: &str, script: &str, args: &[Value]) -> Value {
        self.browser.wait_for(what, script, args)
    }

    /// The text of the first element matching `selector` ("" when none).
    pub fn text(&self, selector: &str) -> String {
        let value = self.browser.execute(
            "const node = document.querySelector(arguments[0]); return node ? node.textContent : '';",
            &[json!(selector)],
        );
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the element `selector` holds exactly `text`.
    pub fn wait_text(&self, selector: &str, text: &str) {
        self.wait(
            &format!("{selector} to read {text:?}"),
            "const node = document.querySelector(arguments[0]); return node !== null && node.textContent === arguments[1];",
            &[json!(selector), json!(text)],
        );
    }

    /// Clicks the element `selector`.
    pub fn click(&self, selector: &str) {
        self.browser.find(selector).click();
    }

    /// Saves the page as `target/ui-screens/<name>.png`.
    pub fn screenshot(&self, name: &str) {
        self.browser
            .save_screenshot(&screens_dir().join(format!("{name}.png")));
    }

    /// Sends `method` to the API as the test's token.
    pub fn call(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Answer {
        send_as(&self.server.url(path), self.token, method, body)
    }

    /// Writes `key` over the API; returns the revision.
    pub fn put(&self, key: &str, content_type: &str, value: &[u8]) -> u64 {
        let answer = self.call("PUT", &key_path(key), Some((content_type, value)));
        assert!(answer.status < 300, "PUT {key}: {}", answer.text());
        answer.json()["rev"].as_u64().expect("a revision")
    }

    /// Writes many text keys in transactions of 100.
    pub fn put_many(&self, keys: &[String]) {
        for chunk in keys.chunks(100) {
            let ops: Vec<Value> = chunk
                .iter()
                .map(|key| json!({"put": {"key": key, "value": format!("value of {key}")}}))
                .collect();
            let body = json!({"compare": [], "success": ops}).to_string();
            let answer = self.call(
                "POST",
                "/v1/txn",
                Some(("application/json", body.as_bytes())),
            );
            assert_eq!(answer.status, 200, "txn: {}", answer.text());
        }
    }

    /// The entry of `key` as JSON, or None when there is no such key.
    pub fn entry(&self, key: &str) -> Option<Value> {
        let answer = self.call("GET", &format!("{}?format=json", key_path(key)), None);
        match answer.status {
            200 => Some(answer.json()),
            404 => None,
            other => panic!("GET {key}: {other} {}", answer.text()),
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.screenshot(&format!("{}-failed", self.name));
            eprintln!("chromedriver's log:\n{}", self.browser.driver_log());
        }
    }
}

/// Removes the screenshot of an earlier failure of the test `name`, so
/// that `target/ui-screens/` shows the last run.
fn forget_failure(name: &str) {
    let _ = std::fs::remove_file(screens_dir().join(format!("{name}-failed.png")));
}

/// The console's address of a place: `folder` and `key` as the page
/// writes them (`URLSearchParams`).
pub fn place(folder: &str, key: Option<&str>) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut parts = Vec::new();
    if !folder.is_empty() {
        parts.push(format!("folder={}", encode(folder)));
    }
    if let Some(key) = key {
        parts.push(format!("key={}", encode(key)));
    }
    parts.join("&")
}

/// Writes a file only its owner may read (the server warns otherwise).
fn write_private(path: &std::path::Path, text: &str) {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).expect("create the token file");
    file.write_all(text.as_bytes())
        .expect("write the token file");
}
