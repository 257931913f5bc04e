//! A replicated cluster for one test: a real 3-node NATS JetStream cluster
//! (nats-server 2.10+ with `sync_interval: always`) and kv-store servers
//! started with `--cluster`, each in a working directory of its own that
//! outlives a kill, so that it can be started again on its data.

use std::time::{Duration, Instant};

use kv_testkit::http::Answer;
use kv_testkit::{NatsCluster, TestServer};
use serde_json::Value;
use tempfile::TempDir;

/// How long the replicas may take to agree.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// NATS nodes, the servers and their working directories.
pub struct Cluster {
    pub nats: NatsCluster,
    servers: Vec<Option<TestServer>>,
    dirs: Vec<TempDir>,
    args: Vec<String>,
}

impl Cluster {
    /// A 3-node NATS cluster and `servers` replicas started with `args`
    /// besides `--cluster` (`{nats}` in them stands for the NATS URLs);
    /// `None` (said loudly) without a suitable nats-server outside CI.
    pub fn start(servers: usize, args: &[&str]) -> Option<Cluster> {
        let nats = NatsCluster::start(3)?;
        let mut cluster = Cluster {
            nats,
            servers: Vec::new(),
            dirs: Vec::new(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        for _ in 0..servers {
            cluster.add_server();
        }
        Some(cluster)
    }

    /// Starts one more replica (an empty data directory); its index.
    pub fn add_server(&mut self) -> usize {
        self.dirs
            .push(tempfile::tempdir().expect("a working directory"));
        self.servers.push(None);
        let index = self.servers.len() - 1;
        self.restart_server(index);
        index
    }

    /// The command-line arguments of every server (`{nats}` in the
    /// caller's stands for the NATS URLs).
    fn server_args(&self) -> Vec<String> {
        let urls = self.nats.urls();
        let mut args = vec!["--cluster".to_owned(), urls.clone()];
        args.extend(self.args.iter().map(|a| a.replace("{nats}", &urls)));
        args
    }

    /// Server `index`, which must be running.
    pub fn server(&self, index: usize) -> &TestServer {
        self.servers[index]
            .as_ref()
            .unwrap_or_else(|| panic!("server {index} is not running"))
    }

    /// The base URLs of the running servers, by index (`None` if stopped).
    pub fn bases(&self) -> Vec<Option<String>> {
        self.servers
            .iter()
            .map(|s| s.as_ref().map(TestServer::base_url))
            .collect()
    }

    /// kill -9 server `index`.
    pub fn kill_server(&mut self, index: usize) {
        if let Some(mut server) = self.servers[index].take() {
            server.kill();
        }
    }

    /// Starts server `index` on its data directory (after a kill, or the
    /// first time) and waits until it has caught up with the log.
    pub fn restart_server(&mut self, index: usize) {
        self.kill_server(index);
        let args = self.server_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = TestServer::start_in(
            env!("CARGO_BIN_EXE_server"),
            self.dirs[index].path(),
            &args,
            &[],
        );
        self.servers[index] = Some(server);
    }

    /// `GET /v1/status` of every running server.
    pub fn statuses(&self) -> Vec<Value> {
        self.servers
            .iter()
            .flatten()
            .map(|server| {
                let answer = request(&server.base_url(), "GET", "/v1/status", &[], None)
                    .unwrap_or_else(|e| panic!("status of {}: {e}", server.base_url()));
                assert_eq!(answer.status, 200, "{}", answer.text());
                answer.json()
            })
            .collect()
    }

    /// Waits until every running server reports the same revision and
    /// digest with nothing left to apply; returns them.
    pub fn converged(&self) -> (u64, String) {
        let deadline = Instant::now() + CONVERGE;
        loop {
            let statuses = self.statuses();
            let first = &statuses[0];
            let same = statuses.iter().all(|s| {
                s["rev"] == first["rev"] && s["digest"] == first["digest"] && s["lag"] == 0
            });
            if same {
                return (
                    first["rev"].as_u64().expect("rev"),
                    first["digest"].as_str().expect("digest").to_owned(),
                );
            }
            assert!(
                Instant::now() < deadline,
                "the replicas did not converge within {CONVERGE:?}: {statuses:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An agent with a short time limit (a killed server must not hold a
/// test up) and no connection reuse across kills.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_age(Duration::from_secs(2))
        .build()
        .into()
}

/// Sends `method base+path` with `headers` and an optional body; `Err` on a
/// transport failure (the server is down), any status as a value.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Answer, String> {
    request_with(&agent(), base, method, path, headers, body)
}

/// [`request`] through `agent`.
pub fn request_with(
    agent: &ureq::Agent,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Answer, String> {
    let url = format!("{base}{path}");
    let mut builder = ureq::http::Request::builder().method(method).uri(&url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let result = match body {
        Some(body) => agent.run(builder.body(body.to_vec()).expect("valid request")),
        None => agent.run(builder.body(()).expect("valid request")),
    };
    let mut response = result.map_err(|e| format!("{method} {url}: {e}"))?;
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| format!("{method} {url}: reading the body: {e}"))?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    })
}

/// The value of `key` on `base` read with `consistent=true` (`None` when
/// missing).
pub fn consistent_value(base: &str, key: &str) -> Option<Vec<u8>> {
    let answer = request(
        base,
        "GET",
        &format!("/v1/kv/{key}?consistent=true"),
        &[],
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match answer.status {
        200 => Some(answer.body),
        404 => None,
        other => panic!("consistent read of {key}: {other} {}", answer.text()),
    }
}
