//! The event-driven engine, for `http://` servers: a few threads, each
//! with a single-threaded tokio runtime whose tasks are its share of the
//! connections. A task keeps its connection alive and sends one request
//! at a time over it, written by [`wire`](super::wire) from parts built
//! once; it reconnects when the server closes the connection or a request
//! fails. On two cores, next to the server, it keeps up with wrk on the
//! same route (0.83 to 1.10 of wrk's rate, run to run), where a thread per
//! connection (the blocking engine) reached about half of it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::plan::{Answer, Fault, Plan};
use super::report::Tally;
use super::wire::{self, Requests};
use super::{Engine, Op, Run};
use crate::client::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// The event-driven engine.
#[derive(Debug)]
pub(crate) struct Event {
    target: Arc<Target>,
    threads: usize,
}

/// The server every connection of the engine talks to, and what it sends.
#[derive(Debug)]
struct Target {
    /// The server's addresses, looked up once; connections try them in
    /// order.
    addrs: Vec<SocketAddr>,
    requests: Requests,
}

impl Event {
    /// An engine for the `http://` server at `base_url`, sending `token`
    /// when there is one, on `threads` threads.
    ///
    /// # Errors
    ///
    /// `base_url` is not `http://HOST:PORT`, the host has no address, or
    /// the token cannot be sent.
    pub(crate) fn new(base_url: &str, token: Option<&str>, threads: usize) -> Result<Self, String> {
        let authority = base_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{base_url} is not an http:// URL"))?;
        let addrs: Vec<SocketAddr> = authority
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{authority} resolves to no address"));
        }
        Ok(Event {
            target: Arc::new(Target {
                addrs,
                requests: Requests::new(authority, token)?,
            }),
            threads: threads.max(1),
        })
    }
}

impl Engine for Event {
    fn name(&self) -> &'static str {
        "event"
    }

    fn threads(&self, connections: usize) -> usize {
        self.threads.min(connections)
    }

    fn work(&self, run: &Arc<Run>, connections: usize) -> std::io::Result<Tally> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build();
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(e) => {
                // Do not keep the others waiting for these connections.
                run.opened(connections);
                return Err(e);
            }
        };
        let opened = runtime.block_on(async {
            let mut opening = JoinSet::new();
            for _ in 0..connections {
                opening.spawn(Connection::open(self.target.clone()));
            }
            opening.join_all().await
        });
        run.opened(connections);
        run.wait_for_go();
        Ok(runtime.block_on(async {
            let mut serving = JoinSet::new();
            for connection in opened {
                serving.spawn(connection.serve(run.clone()));
            }
            let mut tally = Tally::new();
            for task in serving.join_all().await {
                tally.merge(task);
            }
            tally
        }))
    }
}

/// One keep-alive connection and the buffers it reuses.
struct Connection {
    target: Arc<Target>,
    /// `None` until connected, and after the server closed it or a request
    /// failed on it.
    stream: Option<TcpStream>,
    request: Vec<u8>,
    /// A set's body, while its request is written.
    body: Vec<u8>,
    /// What was read of the answer.
    read: Vec<u8>,
    /// The answer's body.
    answer: Vec<u8>,
}

impl Connection {
    /// A connection, connected if the server can be reached (a request
    /// retries otherwise, and counts the failure).
    async fn open(target: Arc<Target>) -> Self {
        let stream = connect(&target.addrs).await.ok();
        Connection {
            target,
            stream,
            request: Vec::with_capacity(512),
            body: Vec::new(),
            read: Vec::with_capacity(4096),
            answer: Vec::new(),
        }
    }

    /// Sends the requests `run` hands out until it says stop.
    async fn serve(mut self, run: Arc<Run>) -> Tally {
        let mut tally = Tally::new();
        while let Some((op, key)) = run.next() {
            let sent = Instant::now();
            let result = self.send(run.plan(), op, key).await;
            run.record(&mut tally, op, sent.elapsed(), result);
        }
        tally
    }

    /// Sends `op` on `key` and reads the whole answer.
    async fn send(&mut self, plan: &Plan, op: Op, key: u64) -> Result<Answer, Fault> {
        let Connection {
            target,
            stream,
            request,
            body,
            read,
            answer,
        } = self;
        let sent = target.requests.write(request, plan, op, key, body);
        let socket = match stream {
            Some(socket) => socket,
            None => stream.insert(connect(&target.addrs).await?),
        };
        let exchange = async {
            socket
                .write_all(request)
                .await
                .map_err(|e| Fault::io(&e, "sending the request"))?;
            wire::read_reply(socket, read, answer).await
        };
        let result = match timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Fault::new(
                "timeout",
                format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            )),
        };
        match result {
            Ok(reply) => {
                if reply.close {
                    *stream = None;
                }
                plan.judge(op, reply.status, sent, answer)
            }
            Err(fault) => {
                // Whatever the connection still carries is unusable.
                *stream = None;
                Err(fault)
            }
        }
    }
}

/// Connects to the first of `addrs` that answers.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, Fault> {
    let mut failure = String::new();
    for addr in addrs {
        match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Requests are small and sent whole: no need to wait for
                // more to fill a packet.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => failure = format!("cannot connect to {addr}: {e}"),
            Err(_) => {
                failure = format!(
                    "cannot connect to {addr} within {} s",
                    CONNECT_TIMEOUT.as_secs()
                );
            }
        }
    }
    Err(Fault::new("connection failed", failure))
}
