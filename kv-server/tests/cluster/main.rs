//! Replicated mode, end to end: real `nats-server` processes (a 3-node
//! JetStream cluster, nats-server 2.10 or later) and real `server`
//! processes started with `--cluster`, over HTTP. One test binary, a module
//! per property.

mod bulk;
mod chaos;
mod convergence;
mod join;
mod linearizable;
mod publish;
mod support;
mod watch;
mod writes;
