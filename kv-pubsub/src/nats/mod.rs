//! Everything that speaks NATS, and the only module that uses the `nats`
//! crate (deprecated upstream in favour of an async client): swapping the
//! client changes this folder alone.
//!
//! - [`feed`]: [`NatsFeed`] mirrors the hub to the subjects `set`, `rm` and
//!   `expire`; [`subscribe`] reads them back.
//! - `publisher`: the thread behind a [`NatsFeed`]: connects, publishes
//!   the hub's events, confirms them with flushes and resends after an
//!   outage.
//! - [`jetstream`]: [`JetStreamLog`], the replicated log of replicated mode
//!   on a JetStream stream ([`crate::replicated::ReplicatedLog`]).
//! - [`object_snapshots`]: [`ObjectSnapshots`], replicas' shared snapshot
//!   in a JetStream Object Store bucket.
//! - `replies`: one long-lived reply subscription for every request and
//!   acknowledgement, answered without the client's per-request inbox and
//!   its 5 ms flush delay.
#![allow(deprecated)]

pub mod feed;
pub mod jetstream;
pub mod object_snapshots;
mod publisher;
mod replies;

pub use feed::{
    subscribe, NatsConfig, NatsFeed, NatsSubscription, PublishTurn, DUPLICATE_WINDOW, MSG_ID_HEADER,
};
pub use jetstream::{JetStreamLog, JetStreamSettings};
pub use object_snapshots::ObjectSnapshots;
