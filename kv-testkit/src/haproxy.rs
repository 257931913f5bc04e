//! [`Haproxy`]: a real `haproxy` running the project's own
//! `docker/haproxy.cfg` on free loopback ports, in front of one server.
//!
//! The configuration file is used as it ships: it reads its three addresses
//! from the environment (`KV_LB_BIND`, `KV_LB_STATS_BIND`, `KV_LB_SERVER`,
//! defaulting to the Docker Compose names), so the harness substitutes
//! loopback addresses by setting those variables, and a test proves the very
//! settings (retries, health checks, timeouts) that production runs.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::nats::{find_binary, free_port, skip_or_panic};

/// How long HAProxy may take to start and see its server healthy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The name of the server line in `docker/haproxy.cfg`'s backend.
const SERVER_NAME: &str = "kv1";

/// The configuration that ships: `docker/haproxy.cfg` at the workspace top.
pub fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docker")
        .join("haproxy.cfg")
}

/// A running `haproxy`, killed when dropped.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    port: u16,
    stats_port: u16,
    /// Every line HAProxy printed (its log goes to stdout).
    log: Arc<Mutex<Vec<String>>>,
}

/// One server's row of HAProxy's stats (`/stats;csv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// `UP`, `DOWN`, or a transition such as `UP 1/3` (failing checks,
    /// still in service) or `DOWN 1/2`.
    pub status: String,
    /// The last health check's result, such as `L7OK` or `L4CON`.
    pub check_status: String,
}

impl ServerState {
    /// Fully in service: `UP` with no failed check pending and the last
    /// check passed at layer 7.
    pub fn is_up(&self) -> bool {
        self.status == "UP" && self.check_status == "L7OK"
    }
}

impl Haproxy {
    /// Starts HAProxy with [`shipped_config`] in front of `server`, and waits
    /// until its health checks see the server `UP`.
    ///
    /// Without `haproxy` installed this says so loudly on stderr and returns
    /// `None`, so the calling test can return early; under `CI=true` it
    /// panics instead: CI must run every test.
    pub fn start(server: SocketAddr) -> Option<Haproxy> {
        Self::start_with_config(&shipped_config(), server)
    }

    /// Like [`start`](Self::start), with another configuration file that
    /// reads the same three variables.
    ///
    /// # Panics
    ///
    /// When HAProxy rejects the configuration, exits, or does not see the
    /// server `UP` within [`READY_TIMEOUT`].
    pub fn start_with_config(config: &Path, server: SocketAddr) -> Option<Haproxy> {
        let Some(binary) = find_binary("haproxy") else {
            skip_or_panic(
                "haproxy is not installed, so this topology test cannot run. \
                 Install it with `apt-get install -y haproxy` (.ci/run does).",
            );
            return None;
        };
        let (port, stats_port) = (free_port(), free_port());
        let mut child = Command::new(&binary)
            // -db: stay in the foreground, no daemon; the log goes to stdout.
            .arg("-db")
            .arg("-f")
            .arg(config)
            .env("KV_LB_BIND", format!("127.0.0.1:{port}"))
            .env("KV_LB_STATS_BIND", format!("127.0.0.1:{stats_port}"))
            .env("KV_LB_SERVER", server.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take().expect("piped stdout"), &log);
        collect_lines(child.stderr.take().expect("piped stderr"), &log);
        let mut haproxy = Haproxy {
            child,
            port,
            stats_port,
            log,
        };
        haproxy.wait_server_up(READY_TIMEOUT);
        Some(haproxy)
    }

    /// `http://127.0.0.1:PORT`, where clients connect.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The URL of `path` (which starts with `/`) through HAProxy.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The server's state as HAProxy sees it, or `None` when the stats page
    /// does not answer (HAProxy is still starting).
    pub fn server_state(&self) -> Option<ServerState> {
        let url = format!("http://127.0.0.1:{}/stats;csv", self.stats_port);
        let mut response = crate::http::agent().get(&url).call().ok()?;
        let csv = response.body_mut().read_to_string().ok()?;
        parse_server_state(&csv, SERVER_NAME)
    }

    /// Waits until HAProxy sees the server fully `UP` (see
    /// [`ServerState::is_up`]): what `deploy/rolling-restart.sh` waits for
    /// before the next restart.
    ///
    /// # Panics
    ///
    /// When HAProxy has exited, or after `timeout`, with HAProxy's log.
    pub fn wait_server_up(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.server_state();
            if state.as_ref().is_some_and(ServerState::is_up) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "HAProxy exited ({status}); its log:\n{}",
                    self.log().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy did not see the server UP within {timeout:?} (last state: {state:?}); its log:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every line HAProxy has printed so far. The shipped configuration logs
    /// only abnormal requests (`option dontlog-normal`): errors, retries,
    /// redispatches.
    pub fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `stream` line by line into `log`, on its own thread.
fn collect_lines(stream: impl Read + Send + 'static, log: &Arc<Mutex<Vec<String>>>) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut lines) = log.lock() {
                lines.push(line);
            }
        }
    });
}

/// The row of server `name` in HAProxy's stats CSV, whose header line is
/// `# pxname,svname,...`.
fn parse_server_state(csv: &str, name: &str) -> Option<ServerState> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let column = |wanted: &str| header.iter().position(|c| *c == wanted);
    let (svname, status, check) = (
        column("svname")?,
        column("status")?,
        column("check_status")?,
    );
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|row| row.get(svname) == Some(&name))
        .map(|row| ServerState {
            status: row.get(status).copied().unwrap_or_default().to_owned(),
            check_status: row.get(check).copied().unwrap_or_default().to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_servers_state_from_the_stats_csv() {
        let csv = "# pxname,svname,qcur,status,weight,check_status\n\
                   kv,FRONTEND,,OPEN,,\n\
                   kv_servers,kv1,0,UP 2/3,1,L4CON\n\
                   kv_servers,BACKEND,0,UP,1,\n";
        let state = parse_server_state(csv, "kv1").expect("kv1 is listed");
        assert_eq!(state.status, "UP 2/3");
        assert_eq!(state.check_status, "L4CON");
        assert!(!state.is_up());
        assert_eq!(parse_server_state(csv, "kv9"), None);
    }
}
