//! [`NatsServer`]: a real `nats-server` on a free loopback port, for one test.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `nats-server` may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `nats-server`, killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    /// JetStream's storage, kept across restarts, when enabled.
    jetstream: Option<tempfile::TempDir>,
}

/// Where the program `name` is: on `PATH`, or in `/usr/sbin` where Debian's
/// packages put daemons such as `nats-server` and `haproxy`.
pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    binary_candidates(name).next()
}

/// Every file named `name` in a directory of `PATH`, then in `/usr/sbin`,
/// `/usr/local/bin` and `/usr/bin`, in that order (a file may come twice).
pub(crate) fn binary_candidates(name: &str) -> impl Iterator<Item = PathBuf> + '_ {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .collect::<Vec<_>>()
        .into_iter()
        .chain([
            "/usr/sbin".into(),
            "/usr/local/bin".into(),
            "/usr/bin".into(),
        ])
        .map(move |dir| dir.join(name))
        .filter(|candidate| candidate.is_file())
}

/// Reports that a tool a test needs is missing: under `CI=true` it panics
/// (CI must run every test); elsewhere it says so loudly on stderr and the
/// caller returns early.
pub(crate) fn skip_or_panic(message: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n=== SKIPPED: {message} ===\n");
}

/// A loopback port that was free a moment ago (the OS picks it).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl NatsServer {
    /// Starts `nats-server` on a free port and waits until it accepts
    /// clients.
    ///
    /// Without `nats-server` installed this says so loudly on stderr and
    /// returns `None`, so the calling test can return early; under `CI=true`
    /// it panics instead: CI must run every test.
    pub fn start() -> Option<NatsServer> {
        Self::launch(false)
    }

    /// Like [`start`](Self::start), with JetStream enabled (file storage in
    /// a temporary directory that survives [`restart`](Self::restart)).
    pub fn start_jetstream() -> Option<NatsServer> {
        Self::launch(true)
    }

    fn launch(jetstream: bool) -> Option<NatsServer> {
        let Some(binary) = find_binary("nats-server") else {
            skip_or_panic(
                "nats-server is not installed, so this NATS test cannot run. \
                 Install it with `apt-get install -y nats-server` (.ci/run does).",
            );
            return None;
        };
        let port = free_port();
        let jetstream = jetstream.then(|| tempfile::tempdir().expect("a JetStream directory"));
        let mut server = NatsServer {
            binary,
            child: None,
            port,
            jetstream,
        };
        server.restart();
        Some(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it is ready.
    ///
    /// # Panics
    ///
    /// When it cannot start or does not become ready in time.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(&self.binary);
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(dir) = &self.jetstream {
            command.arg("-js").arg("-sd").arg(dir.path());
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if self.greets() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server on port {} was not ready within {READY_TIMEOUT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server accepts a connection and sends its INFO line.
    fn greets(&self) -> bool {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
