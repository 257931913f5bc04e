//! [`NatsCluster`]: a real cluster of `nats-server` nodes with JetStream, on
//! loopback, for the replicated-mode tests.
//!
//! Each node `nK` (K from 1) has its own client, cluster (route) and HTTP
//! monitoring ports, its own JetStream store directory with
//! `sync_interval: always` (every write is fsynced before it is
//! acknowledged), and routes to every other node. Readiness is read from the
//! monitoring endpoint, never waited for with a fixed sleep.

mod binary;
mod monitor;
mod node;

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::nats::free_port;
use node::{Node, Ports};

/// How long a node may take to become ready, and a stream to get a leader
/// (an election after a leader is killed takes some seconds).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many of a node's last log lines a readiness failure shows.
const LOG_TAIL_LINES: usize = 40;
/// Starts tried when another process took a port the harness chose.
const START_ATTEMPTS: usize = 3;

/// A running cluster of `nats-server` nodes with JetStream; every node is
/// killed when dropped. Nodes are numbered from 0 in this API, and named
/// `n1`, `n2`... in their configuration.
#[derive(Debug)]
pub struct NatsCluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    agent: ureq::Agent,
    /// The configuration and log files.
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts `nodes` nodes and waits until each runs JetStream and is
    /// current with the meta leader ([`is_healthy`](Self::is_healthy)): any
    /// node then answers JetStream API requests, such as creating a stream.
    ///
    /// It needs `nats-server` 2.10 or later: the one named by
    /// `KVSTORE_TEST_NATS_SERVER`, or else the first recent enough on `PATH`.
    /// Without one this says so loudly on stderr and returns `None`, so the
    /// calling test can return early; under `CI=true` it panics instead.
    ///
    /// # Panics
    ///
    /// When `nodes` is 0, or a node exits or is not ready within
    /// [`READY_TIMEOUT`] (the message has its log).
    pub fn start(nodes: usize) -> Option<NatsCluster> {
        assert!(nodes > 0, "a cluster needs at least one node");
        let binary = binary::find()?;
        let mut attempt = 1;
        let mut cluster = loop {
            let mut cluster = Self::spawn(binary.clone(), nodes);
            // Ports are chosen free, then bound by the nodes a moment later:
            // another test may take one in between. Try again, with others.
            if attempt == START_ATTEMPTS || !cluster.lost_a_port() {
                break cluster;
            }
            attempt += 1;
        };
        for node in 0..cluster.nodes() {
            cluster.wait_jetstream(node);
        }
        // Knowing the meta leader is not enough: a node that is not yet
        // current with it drops JetStream API requests without an answer.
        for node in 0..cluster.nodes() {
            cluster.wait_healthy(node);
        }
        Some(cluster)
    }

    /// `nodes` nodes on fresh ports, started.
    fn spawn(binary: PathBuf, nodes: usize) -> NatsCluster {
        let dir = tempfile::tempdir().expect("a directory for configurations and logs");
        let ports = distinct_free_ports(3 * nodes);
        let ports: Vec<Ports> = ports
            .chunks(3)
            .map(|p| Ports {
                client: p[0],
                cluster: p[1],
                monitor: p[2],
            })
            .collect();
        let nodes = (0..nodes)
            .map(|index| Node::new(index, &ports, dir.path()))
            .collect();
        let mut cluster = NatsCluster {
            binary,
            nodes,
            agent: monitor::agent(),
            _dir: dir,
        };
        for node in &mut cluster.nodes {
            node.spawn(&cluster.binary);
        }
        cluster
    }

    /// Whether a node exited at start because one of its ports was taken.
    /// Waits until every node accepts clients (a node binds its monitoring
    /// and cluster ports before its client port) or one has exited.
    fn lost_a_port(&mut self) -> bool {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(node) = (0..self.nodes()).find(|&n| self.nodes[n].exited().is_some()) {
                return self.log(node).contains("address already in use");
            }
            let listening = self
                .nodes
                .iter()
                .all(|node| TcpStream::connect(("127.0.0.1", node.ports.client)).is_ok());
            if listening {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Not ready in time: wait_jetstream says so, with the log.
        false
    }

    /// How many nodes the cluster has, running or not.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// `nats://127.0.0.1:PORT` of `node`.
    pub fn url(&self, node: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[node].ports.client)
    }

    /// Every node's URL, comma-joined (`nats://127.0.0.1:P1,nats://...`), as
    /// NATS clients accept a server list. Killed nodes are included: a
    /// [`restart`](Self::restart)ed node listens on the same port.
    pub fn urls(&self) -> String {
        (0..self.nodes())
            .map(|node| self.url(node))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills `node` with SIGKILL (as `kill -9`: no clean shutdown) and waits
    /// until the process is gone. Nothing happens if it is not running.
    pub fn kill(&mut self, node: usize) {
        self.nodes[node].kill();
    }

    /// Starts `node` again (killing it first if it runs), with the same
    /// ports and JetStream store, and waits until it runs JetStream.
    ///
    /// It does not wait until the node has caught up with the cluster: that
    /// needs a quorum of running nodes; see [`wait_healthy`](Self::wait_healthy).
    ///
    /// # Panics
    ///
    /// When it exits or is not ready within [`READY_TIMEOUT`].
    pub fn restart(&mut self, node: usize) {
        self.nodes[node].kill();
        self.nodes[node].spawn(&self.binary);
        self.wait_jetstream(node);
    }

    /// Whether `node` runs: started, not killed, not exited.
    pub fn is_running(&mut self, node: usize) -> bool {
        self.nodes[node].is_running()
    }

    /// Whether `node` answers `GET /healthz` with 200: JetStream is current
    /// with the meta leader and every stream it holds is current.
    pub fn is_healthy(&self, node: usize) -> bool {
        monitor::health(&self.agent, self.nodes[node].ports.monitor)
            .is_some_and(|(status, _)| status == 200)
    }

    /// Waits until [`is_healthy`](Self::is_healthy): after a restart, until
    /// the node has caught up.
    ///
    /// # Panics
    ///
    /// When it exits or is not healthy within [`READY_TIMEOUT`]; the message
    /// has its last health answer and its log.
    pub fn wait_healthy(&mut self, node: usize) {
        self.wait_until(node, "be healthy (GET /healthz)", |c| c.is_healthy(node));
    }

    /// The node that leads the JetStream stream `stream` (in any account),
    /// or `None` while there is none or it is not yet clear.
    ///
    /// Every node that answers is asked, and a node counts as the leader
    /// only when it names itself and a majority of the answers name it too.
    /// Either alone can be stale: after the leader is killed, the others
    /// keep naming it for seconds until they elect another, and a restarted
    /// node first names whoever led when it stopped, itself included.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        self.agreed_leader(|port| monitor::stream_leader(&self.agent, port, stream))
    }

    /// The node that leads the JetStream meta group (which places streams),
    /// decided as in [`stream_leader`](Self::stream_leader).
    pub fn meta_leader(&self) -> Option<usize> {
        self.agreed_leader(|port| monitor::meta_leader(&self.agent, port))
    }

    /// Waits until the stream `stream` has a leader and returns it (see
    /// [`stream_leader`](Self::stream_leader)).
    ///
    /// # Panics
    ///
    /// When a node exits or there is no leader within [`READY_TIMEOUT`].
    pub fn wait_stream_leader(&mut self, stream: &str) -> usize {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(leader) = self.stream_leader(stream) {
                return leader;
            }
            self.check_not_exited();
            assert!(
                Instant::now() < deadline,
                "stream {stream} has no leader after {READY_TIMEOUT:?}; the nodes' logs:\n{}",
                (0..self.nodes())
                    .map(|node| self.log_tail(node))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything `node` has printed, over all its runs (each run begins
    /// with a line `=== harness: starting nK`): for a failing test to show.
    pub fn log(&self, node: usize) -> String {
        self.nodes[node].log()
    }

    /// The node that names itself leader, as a majority of the nodes that
    /// answer `leader_at(monitoring port)` do.
    fn agreed_leader(&self, leader_at: impl Fn(u16) -> Option<String>) -> Option<usize> {
        let claims: Vec<Option<String>> = self
            .nodes
            .iter()
            .map(|node| leader_at(node.ports.monitor))
            .collect();
        let answers = claims.iter().filter(|claim| claim.is_some()).count();
        (0..self.nodes()).find(|&node| {
            let name = Some(&self.nodes[node].name);
            let votes = claims.iter().filter(|claim| claim.as_ref() == name).count();
            claims[node].as_ref() == name && 2 * votes > answers
        })
    }

    /// Waits until `node` runs JetStream (`/healthz?js-enabled-only=true`).
    fn wait_jetstream(&mut self, node: usize) {
        self.wait_until(node, "run JetStream", |c| {
            monitor::jetstream_enabled(&c.agent, c.nodes[node].ports.monitor)
        });
    }

    /// Polls `ready` until it holds.
    ///
    /// # Panics
    ///
    /// When a node has exited, or after [`READY_TIMEOUT`], naming `node` and
    /// what it was to do, with its health and log.
    fn wait_until(&mut self, node: usize, what: &str, ready: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ready(self) {
                return;
            }
            self.check_not_exited();
            if Instant::now() >= deadline {
                let health = monitor::health(&self.agent, self.nodes[node].ports.monitor);
                panic!(
                    "nats-server node {} did not {what} within {READY_TIMEOUT:?} \
                     (GET /healthz: {health:?})\n{}",
                    self.nodes[node].name,
                    self.log_tail(node)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// # Panics
    ///
    /// When a node the harness started has exited on its own, with its log.
    fn check_not_exited(&mut self) {
        let exited = (0..self.nodes()).find_map(|n| self.nodes[n].exited().map(|s| (n, s)));
        if let Some((node, status)) = exited {
            panic!(
                "nats-server node {} exited ({status})\n{}",
                self.nodes[node].name,
                self.log_tail(node)
            );
        }
    }

    /// The last lines of `node`'s log, under a heading.
    fn log_tail(&self, node: usize) -> String {
        let log = self.log(node);
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "--- last {} lines of {}'s log ---\n{}",
            tail.len(),
            self.nodes[node].name,
            tail.join("\n")
        )
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

/// `count` loopback ports, free a moment ago and all different.
fn distinct_free_ports(count: usize) -> Vec<u16> {
    let mut ports = Vec::with_capacity(count);
    while ports.len() < count {
        let port = free_port();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

#[cfg(test)]
mod tests;
