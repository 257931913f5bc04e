//! One node of a [`NatsCluster`](super::NatsCluster): its ports, its
//! configuration file, its JetStream store, its log, and its process.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use tempfile::TempDir;

/// A node's three loopback ports.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ports {
    /// Where clients connect.
    pub(super) client: u16,
    /// Where the other nodes connect (routes).
    pub(super) cluster: u16,
    /// The HTTP monitoring endpoint.
    pub(super) monitor: u16,
}

/// A node: kept across kills and restarts, with the same ports and store.
#[derive(Debug)]
pub(super) struct Node {
    /// `n1`, `n2`...: its `server_name`, as the monitoring endpoint says it.
    pub(super) name: String,
    pub(super) ports: Ports,
    config: PathBuf,
    log: PathBuf,
    /// JetStream's storage, which survives restarts.
    _store: TempDir,
    child: Option<Child>,
}

impl Node {
    /// Writes the configuration of node `index` (0-based) of a cluster whose
    /// nodes have `all` ports, into `dir`. The node does not run yet.
    pub(super) fn new(index: usize, all: &[Ports], dir: &Path) -> Node {
        let name = format!("n{}", index + 1);
        let ports = all[index];
        let store = tempfile::tempdir().expect("a JetStream store directory");
        let routes: Vec<String> = all
            .iter()
            .filter(|other| other.cluster != ports.cluster)
            .map(|other| format!("nats-route://127.0.0.1:{}", other.cluster))
            .collect();
        let text = format!(
            "server_name: {name}\n\
             listen: 127.0.0.1:{client}\n\
             http: 127.0.0.1:{monitor}\n\
             max_payload: 8MB\n\
             jetstream {{ store_dir: {store:?}, sync_interval: always }}\n\
             cluster {{ name: kvtest, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n",
            client = ports.client,
            monitor = ports.monitor,
            cluster = ports.cluster,
            store = store.path().display().to_string(),
            routes = routes.join(", "),
        );
        let config = dir.join(format!("{name}.conf"));
        std::fs::write(&config, text).expect("write a nats-server configuration");
        Node {
            log: dir.join(format!("{name}.log")),
            name,
            ports,
            config,
            _store: store,
            child: None,
        }
    }

    /// Starts the process, its stdout and stderr appended to the log file
    /// after a line that marks the start.
    ///
    /// # Panics
    ///
    /// When it cannot start.
    pub(super) fn spawn(&mut self, binary: &Path) {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the node's log file");
        writeln!(log, "=== harness: starting {}", self.name).expect("write the log");
        let stderr: File = log.try_clone().expect("share the log file");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        self.child = Some(child);
    }

    /// Kills the process with SIGKILL (no clean shutdown, as `kill -9`) and
    /// waits until it is gone. Nothing happens if it is not running.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// How the process ended, if it was started and has exited on its own.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok()?
    }

    /// Whether the process was started, not killed, and has not exited.
    pub(super) fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// Everything the node has logged, over all its runs.
    pub(super) fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}
