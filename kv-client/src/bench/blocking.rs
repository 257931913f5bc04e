//! The blocking engine, for `https://` servers: one thread per connection,
//! each with its own keep-alive ureq agent built from the client's
//! settings (its token, trusted CAs and timeouts). The server's name is
//! looked up once, targets are built once per key, and bodies and answers
//! go into buffers each thread reuses, so a request allocates little
//! beyond what ureq itself needs.

use std::io::Read;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use ureq::config::Config;
use ureq::http::header::CONTENT_TYPE;
use ureq::http::{HeaderValue, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

use super::plan::{Answer, Fault, Plan};
use super::report::Tally;
use super::{Api, Engine, Op, Run};

/// Up to this many keys get their URI built once, before the run (about
/// 150 bytes each); past it, each request builds its own.
pub const PREBUILT_KEYS: u64 = 100_000;

/// The blocking engine.
#[derive(Debug)]
pub(crate) struct Blocking {
    /// What every connection's agent is built from: each has its own pool,
    /// which keeps its one connection alive.
    config: Config,
    resolver: ResolvedOnce,
    base_url: String,
    /// `{base}/set` (the original routes).
    set_uri: Uri,
    /// Per key, `{base}/get?key=K` (seed) or `{base}/v1/kv/K` (v1), for
    /// the first [`PREBUILT_KEYS`] keys.
    key_uris: Vec<Uri>,
}

impl Blocking {
    /// An engine for the server at `base_url` whose agents have the
    /// settings `config`.
    ///
    /// # Errors
    ///
    /// `base_url` does not make valid URIs.
    pub(crate) fn new(plan: &Plan, base_url: &str, config: Config) -> Result<Self, String> {
        let set_uri = Uri::try_from(format!("{base_url}/set")).map_err(|e| e.to_string())?;
        let mut engine = Blocking {
            config,
            resolver: ResolvedOnce::new(&set_uri)?,
            base_url: base_url.to_owned(),
            set_uri,
            key_uris: Vec::new(),
        };
        engine.key_uris = (0..plan.keys.min(PREBUILT_KEYS))
            .map(|i| engine.build_key_uri(plan, i))
            .collect::<Result<_, _>>()?;
        Ok(engine)
    }

    fn key_uri(&self, plan: &Plan, key: u64) -> Result<Uri, Fault> {
        match usize::try_from(key).ok().and_then(|k| self.key_uris.get(k)) {
            Some(uri) => Ok(uri.clone()),
            None => self
                .build_key_uri(plan, key)
                .map_err(|detail| Fault::new("bad uri", detail)),
        }
    }

    fn build_key_uri(&self, plan: &Plan, key: u64) -> Result<Uri, String> {
        Uri::try_from(format!("{}{}", self.base_url, plan.key_target(key)))
            .map_err(|e| e.to_string())
    }
}

impl Engine for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    /// A thread per connection: `work` serves one.
    fn threads(&self, connections: usize) -> usize {
        connections
    }

    fn work(&self, run: &Arc<Run>, connections: usize) -> std::io::Result<Tally> {
        debug_assert_eq!(connections, 1, "one connection per thread");
        let mut connection = Connection::new(self, run.plan());
        let mut tally = Tally::new();
        connection.warm_up();
        run.opened(connections);
        run.wait_for_go();
        while let Some((op, key)) = run.next() {
            let sent = Instant::now();
            let result = connection.send(op, key);
            run.record(&mut tally, op, sent.elapsed(), result);
        }
        Ok(tally)
    }
}

/// Answers every lookup with the addresses the server's name had when the
/// run started: ureq looks the name up before every request, even on a
/// kept-alive connection, which made the client 15-20% slower with a host
/// name such as `localhost` (it makes no difference with an IP address).
#[derive(Clone)]
struct ResolvedOnce(ResolvedSocketAddrs);

impl ResolvedOnce {
    /// Resolves the host of `uri` now.
    fn new(uri: &Uri) -> Result<Self, String> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(format!("{uri} is not an absolute URL"));
        };
        let name = DefaultResolver::host_and_port(scheme, authority)
            .ok_or_else(|| format!("{uri} has no port"))?;
        let mut addrs = DefaultResolver::default().empty();
        let found = name
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {name}: {e}"))?;
        for addr in found.take(16) {
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(format!("{name} resolves to no address"));
        }
        Ok(ResolvedOnce(addrs))
    }
}

impl std::fmt::Debug for ResolvedOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<&SocketAddr> = self.0.iter().collect();
        f.debug_tuple("ResolvedOnce").field(&addrs).finish()
    }
}

impl Resolver for ResolvedOnce {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        Ok(self.0.clone())
    }
}

/// One keep-alive connection to the server.
#[derive(Debug)]
struct Connection<'a> {
    engine: &'a Blocking,
    plan: &'a Plan,
    agent: Agent,
    /// The request body being built.
    body: Vec<u8>,
    /// The response body being read.
    answer: Vec<u8>,
}

impl<'a> Connection<'a> {
    /// A connection; it connects on its first request.
    fn new(engine: &'a Blocking, plan: &'a Plan) -> Self {
        Connection {
            engine,
            plan,
            agent: Agent::with_parts(
                engine.config.clone(),
                DefaultConnector::new(),
                engine.resolver.clone(),
            ),
            body: Vec::with_capacity(plan.value_size + 64),
            answer: Vec::with_capacity(plan.value_size + 128),
        }
    }

    /// `GET /`, to open the connection before the clock starts.
    fn warm_up(&mut self) {
        let uri = format!("{}/", self.engine.base_url);
        if let Ok(mut response) = self.agent.get(&uri).call() {
            let _ = response
                .body_mut()
                .as_reader()
                .read_to_end(&mut self.answer);
        }
    }

    /// Sends `op` on `key` and reads the whole answer (which keeps the
    /// connection reusable).
    fn send(&mut self, op: Op, key: u64) -> Result<Answer, Fault> {
        let plan = self.plan;
        self.body.clear();
        let result = match (op, plan.api) {
            (Op::Get, _) => self.agent.get(self.engine.key_uri(plan, key)?).call(),
            (Op::Set, Api::Basic) => {
                plan.set_body(&mut self.body, key);
                self.agent
                    .post(self.engine.set_uri.clone())
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .send(&self.body[..])
            }
            (Op::Set, Api::V1) => {
                plan.set_body(&mut self.body, key);
                self.agent
                    .put(self.engine.key_uri(plan, key)?)
                    .send(&self.body[..])
            }
        };
        let mut response = result.map_err(|e| transport(&e))?;
        self.answer.clear();
        response
            .body_mut()
            .as_reader()
            .read_to_end(&mut self.answer)
            .map_err(|e| Fault::io(&e, "reading the answer"))?;
        plan.judge(
            op,
            response.status().as_u16(),
            self.body.len(),
            &self.answer,
        )
    }
}

/// A failure of ureq to carry the request.
fn transport(error: &ureq::Error) -> Fault {
    let kind = match error {
        ureq::Error::Timeout(_) => "timeout".to_owned(),
        ureq::Error::Io(e) => format!("io: {}", e.kind()),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        _ => "transport".to_owned(),
    };
    Fault {
        kind,
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Workload;

    #[test]
    fn uris_are_prebuilt_and_built_alike() {
        let plan = Plan::new(Api::Basic, Workload::Get, 0, 3, 10);
        let engine = Blocking::new(&plan, "http://127.0.0.1:9", Config::default()).expect("valid");
        assert_eq!(engine.key_uris.len(), 3);
        assert_eq!(
            engine.key_uri(&plan, 1).expect("uri").to_string(),
            "http://127.0.0.1:9/get?key=bench:00000001"
        );
        assert_eq!(
            engine.key_uri(&plan, 12_345_678).expect("uri").to_string(),
            "http://127.0.0.1:9/get?key=bench:12345678"
        );
        let plan = Plan::new(Api::V1, Workload::Get, 0, 1, 1);
        let engine = Blocking::new(&plan, "http://localhost:1", Config::default()).expect("valid");
        assert_eq!(
            engine.key_uri(&plan, 0).expect("uri").to_string(),
            "http://localhost:1/v1/kv/bench%3A00000000"
        );
    }
}
