//! [`Browser`]: a real headless Chromium driven over WebDriver by
//! `chromedriver`, both from Debian (`apt-get install -y chromium
//! chromium-driver`), started for one test on a free loopback port with a
//! fresh profile, and stopped when dropped.
//!
//! - [`webdriver`]: the WebDriver client ([`Session`], [`Element`]).

pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub use webdriver::{Element, Session, ENTER};

use crate::nats::{find_binary, free_port, skip_or_panic};

/// How long chromedriver may take to answer that it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Session::wait_for`] waits for a page condition.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a page condition is checked while waiting.
const POLL: Duration = Duration::from_millis(20);

/// The browser's program, by the names Debian (`chromium`) and others
/// (Google's packages, as on GitHub's runners) give it; chromedriver must
/// be the one of the same version.
const CHROMIUM_NAMES: &[&str] = &["chromium", "google-chrome", "google-chrome-stable"];

/// Chromium's flags: headless, no sandbox (tests may run as root), and
/// nothing that reaches the network on its own (the machine's network is
/// closed, and a test must not depend on it).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
];

/// A headless Chromium under chromedriver, with one WebDriver session.
/// Dereferences to the [`Session`].
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    session: Option<Session>,
    /// Chromium's profile and chromedriver's log.
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and Chromium with a window of `width` x `height`
    /// CSS pixels.
    ///
    /// Without `chromium` or `chromedriver` installed this says so loudly
    /// on stderr and returns `None`, so the calling test can return early;
    /// under `CI=true` it panics instead: CI must run every test.
    ///
    /// # Panics
    ///
    /// When they are installed but do not start.
    pub fn start(width: u32, height: u32) -> Option<Browser> {
        let chromium = CHROMIUM_NAMES.iter().find_map(|name| find_binary(name));
        let (Some(chromium), Some(chromedriver)) = (chromium, find_binary("chromedriver")) else {
            skip_or_panic(
                "chromium or chromedriver is not installed, so this browser test cannot run. \
                 Install them with `apt-get install -y chromium chromium-driver` (.ci/run does).",
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("a directory for the browser");
        let port = free_port();
        let log = dir.path().join("chromedriver.log");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut browser = Browser {
            driver,
            session: None,
            dir,
        };
        let url = format!("http://127.0.0.1:{port}");
        browser.wait_ready(&url);
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--window-size={width},{height}"));
        args.push(format!(
            "--user-data-dir={}",
            browser.dir.path().join("profile").display()
        ));
        let capabilities = json!({
            "browserName": "chrome",
            // An alert stays open, for the test to see (not dismissed).
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let session = Session::open(&url, capabilities).unwrap_or_else(|e| {
            panic!(
                "chromedriver could not start Chromium: {e}\n{}",
                browser.driver_log()
            )
        });
        browser.session = Some(session);
        Some(browser)
    }

    /// Polls chromedriver's status until it says it is ready.
    fn wait_ready(&mut self, url: &str) {
        let agent = webdriver::agent();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!(
                    "chromedriver exited at start ({status})\n{}",
                    self.driver_log()
                );
            }
            if webdriver::says_ready(&agent, url) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within {READY_TIMEOUT:?}\n{}",
                self.driver_log()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The end of chromedriver's log, for failure messages.
    pub fn driver_log(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Saves a screenshot of the page as `path` (a PNG; folders created).
    pub fn save_screenshot(&self, path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the screenshot folder");
        }
        std::fs::write(path, self.screenshot_png())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

impl Session {
    /// Runs `script` until it returns something truthy (not `null`,
    /// `false`, `0` or `""`), checking every few milliseconds for up to
    /// [`WAIT_TIMEOUT`], and returns that.
    ///
    /// # Panics
    ///
    /// When the condition does not hold in time; the message names `what`
    /// and the script's last answer.
    pub fn wait_for(&self, what: &str, script: &str, args: &[Value]) -> Value {
        self.wait_for_within(WAIT_TIMEOUT, what, script, args)
    }

    /// Like [`wait_for`](Self::wait_for), for up to `timeout`: for what
    /// the page only checks every few seconds.
    ///
    /// # Panics
    ///
    /// When the condition does not hold in time.
    pub fn wait_for_within(
        &self,
        timeout: Duration,
        what: &str,
        script: &str,
        args: &[Value],
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, args);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; the page's last answer: {value}"
            );
            std::thread::sleep(POLL);
        }
    }
}

impl std::ops::Deref for Browser {
    type Target = Session;

    fn deref(&self) -> &Session {
        self.session.as_ref().expect("a session once started")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.close();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The folder for the console's screenshots: `target/ui-screens/`, next to
/// the build (`target/<profile>/` holds the running test's binary).
pub fn screens_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("ui-screens"))
        .expect("test binaries live in target/<profile>/deps")
}
