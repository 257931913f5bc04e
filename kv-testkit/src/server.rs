//! [`TestServer`]: the real `server` binary, started for one test.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use tempfile::TempDir;

/// How long a server may take to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after a signal.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The line prefix the server prints on stdout once it listens, followed by
/// `http://ADDR`, or `https://ADDR` when it serves TLS.
const LISTENING: &str = "kv-store listening on ";

/// The first file descriptor of socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

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
    /// `http` or `https`, as the server announced.
    scheme: &'static str,
    workdir: PathBuf,
    /// Everything the server wrote on stderr, once the stream closes (in a
    /// mutex so that a `TestServer` can be shared between threads).
    stderr_log: Mutex<mpsc::Receiver<String>>,
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
        let command = Self::command(bin.as_ref(), workdir, args, env);
        Self::spawn(command, bin.as_ref(), workdir)
    }

    /// Like [`start_in`](Self::start_in), on `listener`, which the caller
    /// keeps open, as systemd does with a socket unit: the server gets it as
    /// file descriptor 3 with `LISTEN_FDS=1` (socket activation; no
    /// `LISTEN_PID`, which the server does not require) and listens on it
    /// instead of `--host`.
    ///
    /// A server stopped gracefully closes only its own copy: connections
    /// arriving until the next server starts on the same listener wait in its
    /// backlog and are served by that one, instead of being refused.
    ///
    /// # Panics
    ///
    /// When the server announces another address than the listener's (it
    /// did not use the socket), besides [`start_in`](Self::start_in)'s cases.
    pub fn start_with_listener(
        bin: impl AsRef<Path>,
        workdir: &Path,
        listener: &TcpListener,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let expected = listener.local_addr().expect("the listener's address");
        let socket = listener
            .try_clone()
            .expect("duplicate the listening socket");
        let mut command = Self::command(bin.as_ref(), workdir, args, env);
        command
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .fd_mappings(vec![FdMapping {
                parent_fd: socket.into(),
                child_fd: LISTEN_FDS_START,
            }])
            .expect("one mapping cannot collide");
        // The command owns the duplicate and closes it once the child has it.
        let server = Self::spawn(command, bin.as_ref(), workdir);
        assert_eq!(
            server.addr, expected,
            "the server did not listen on the socket it was passed"
        );
        server
    }

    /// The command that runs `bin` in `workdir`, with the environment
    /// [`start_with_env`](Self::start_with_env) describes.
    fn command(bin: &Path, workdir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(bin);
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
        command
    }

    /// Spawns `command` (which runs `bin`) and waits until the server has
    /// announced its address.
    fn spawn(mut command: Command, bin: &Path, workdir: &Path) -> TestServer {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        // Closes the parent's copies of any file descriptors passed along.
        drop(command);
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let announced = line.strip_prefix(LISTENING).and_then(|url| {
                    url.strip_prefix("https://")
                        .map(|addr| ("https", addr))
                        .or_else(|| url.strip_prefix("http://").map(|addr| ("http", addr)))
                });
                if let Some((scheme, addr)) = announced {
                    let _ = tx.send((scheme, addr.trim().to_owned()));
                }
            }
        });
        let stderr_log = forward_stderr(stderr);
        let (scheme, addr) = match rx.recv_timeout(START_TIMEOUT) {
            Ok((scheme, addr)) => (
                scheme,
                addr.parse().expect("the server prints a socket address"),
            ),
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
            scheme,
            workdir: workdir.to_owned(),
            stderr_log: Mutex::new(stderr_log),
            _tempdir: None,
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when the server serves TLS.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
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

    /// Kills the process and returns everything it wrote on stderr (its
    /// log), for tests that check what the server logs.
    ///
    /// # Panics
    ///
    /// When the log is not complete within [`STOP_TIMEOUT`].
    pub fn kill_and_stderr(&mut self) -> String {
        self.kill();
        self.stderr_log
            .lock()
            .expect("the stderr log's lock")
            .recv_timeout(STOP_TIMEOUT)
            .expect("the server's stderr, once it closed")
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
