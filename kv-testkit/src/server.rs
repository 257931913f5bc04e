//! [`TestServer`]: the real `server` binary, started for one test.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after a signal.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The line prefix the server prints on stdout once it listens.
const LISTENING: &str = "kv-store listening on http://";

/// The path of a binary of this workspace, next to the running test's
/// executable (`target/<profile>/NAME`). `cargo test --workspace` builds it.
///
/// # Panics
///
/// When the binary has not been built.
pub fn cargo_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it first with `cargo build --bin {name}` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// A running `server` process, killed when dropped.
#[derive(Debug)]
pub struct TestServer {
    child: Child,
    addr: SocketAddr,
    workdir: PathBuf,
    /// The temporary working directory, when the server owns it.
    _tempdir: Option<TempDir>,
}

impl TestServer {
    /// Starts `bin` with `args` on `127.0.0.1:0` and waits until it listens.
    pub fn start(bin: impl AsRef<Path>, args: &[&str]) -> TestServer {
        Self::start_with_env(bin, args, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables. The
    /// environment is otherwise empty but for `RUST_LOG` (default `warn`,
    /// overridden by `KV_TEST_RUST_LOG`), so the caller's `KVSTORE_*`
    /// settings cannot leak in. `KVSTORE_SERVER_HOST` defaults to
    /// `127.0.0.1:0`.
    pub fn start_with_env(
        bin: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let mut server = Self::start_in(bin, dir.path(), args, env);
        server._tempdir = Some(dir);
        server
    }

    /// Like [`start_with_env`](Self::start_with_env), in the working
    /// directory `workdir` (which the caller keeps), so that a later server
    /// can be started on the same data (its default `./data`).
    pub fn start_in(
        bin: impl AsRef<Path>,
        workdir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut command = Command::new(bin.as_ref());
        command
            .args(args)
            .current_dir(workdir)
            .env_clear()
            .env(
                "RUST_LOG",
                std::env::var("KV_TEST_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env("KVSTORE_SERVER_HOST", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.as_ref().display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let stderr_log = forward_stderr(stderr);
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr.parse().expect("the server prints a socket address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not start within {START_TIMEOUT:?}; its stderr:\n{}",
                    stderr_log.recv_timeout(STOP_TIMEOUT).unwrap_or_default()
                );
            }
        };
        TestServer {
            child,
            addr,
            workdir: workdir.to_owned(),
            _tempdir: None,
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The server's working directory (its data is in `data/` there).
    /// Removed when the server is dropped, unless the caller gave it.
    pub fn dir(&self) -> &Path {
        &self.workdir
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The operating system's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (such as `"TERM"` or `"INT"`) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit, at most [`STOP_TIMEOUT`].
    ///
    /// # Panics
    ///
    /// When it is still running after that.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit in {STOP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies the server's stderr to the test's stderr (shown when a test
/// fails) and hands back everything it read once the stream closes.
fn forward_stderr(mut stderr: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        eprint!("{text}");
        let _ = tx.send(text);
    });
    rx
}
