//! skein-dht: the Chord protocol core — a ring of nodes that stores data by
//! key, replicated on r successors, surviving joins, leaves and crashes.
//!
//! Owns the 160-bit identifier ring ([`ring`]: truncated SHA-256 of node
//! addresses and keys), routing state with finger tables and successor lists
//! ([`routing`]), iterative lookups with hop counts ([`lookup`]), ring
//! maintenance — join, stabilize/notify, check-predecessor, fix-fingers,
//! graceful leave ([`maintenance`]) — replication and handoff
//! ([`replication`]), versioned last-writer-wins put/get/delete and the
//! local store ([`ops`], [`store`]), garbage collection of stale copies
//! and old tombstones ([`gc`]), the log a restarted node comes back from
//! ([`persist`]), and the size estimate.
//!
//! Must not do I/O: no sockets, files, threads, wall clock or global random
//! generator. Time comes from `Context::now`; the runtime (`skein-node`)
//! owns the transport, the disk, the REST API and the CLI. Both stores and
//! the routing state go out as `Persist` effects; a restarted node replays
//! them in `boot` and starts as a member where it was.
//!
//! Start reading at [`node`] (state, dispatch), then [`routing`],
//! [`lookup`], [`maintenance`], [`ops`], [`replication`], [`gc`],
//! [`persist`]. `ALGORITHM.md` beside this crate has the message diagram
//! and the deviations from Chord.

pub mod bootstrap;
pub mod config;
mod durable;
pub mod fuzzing;
pub mod gc;
pub mod lookup;
pub mod maintenance;
pub mod message;
pub mod node;
pub mod ops;
pub mod persist;
pub mod replication;
pub mod request;
pub mod ring;
pub mod routing;
pub mod status;
pub mod store;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_durable;

pub use config::DhtConfig;
pub use message::{Body, Item, Message, NodeRef, Version, WriteOutcome};
pub use node::{node_id_of, Dht, NodeState};
pub use request::{DhtError, LookupResult, Reply, Request, RoutingView, SizeEstimate};
pub use ring::RingId;
pub use routing::{Route, Routing};
pub use status::DhtStatus;
pub use store::Store;
