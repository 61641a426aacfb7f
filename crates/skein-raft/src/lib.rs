//! skein-raft: the Raft protocol core — a replicated, linearizable
//! key-value store as a deterministic state machine.
//!
//! Owns leader election (pre-vote, check-quorum, randomized timeouts), log
//! replication (pipelined, batched, fast backtracking), commitment, the
//! key-value state machine, snapshots with chunked InstallSnapshot,
//! one-at-a-time membership change with learners, leadership transfer and
//! ReadIndex/lease reads; the durable record format and its replay; and
//! cross-node safety checks ([`checks`]) for harnesses and the simulator.
//!
//! Must not do I/O: no sockets, files, threads, wall clock or global random
//! generator. Time comes from `Context::now`, randomness from
//! `Context::rng`, durability from `Input::Persisted`. The runtime
//! (`skein-node`) owns the WAL files, API and CLI.
//!
//! Start reading at [`raft`] (state, boot, dispatch), then [`election`],
//! [`replication`] and [`follower`], [`apply`], [`read_index`], [`snapshot`],
//! [`member_change`]. `ALGORITHM.md` beside this crate has the diagram,
//! record formats and deviations.

pub mod apply;
pub mod checks;
pub mod client;
pub mod config;
pub mod election;
pub mod follower;
mod fuzz;
pub mod fuzzing;
pub mod kv;
pub mod log;
pub mod member_change;
pub mod membership;
pub mod message;
mod peers;
pub mod progress;
pub mod raft;
pub mod read_index;
pub mod replication;
pub mod request;
pub mod snapshot;
pub mod status;
pub mod storage;
pub mod transfer;

#[cfg(test)]
mod tests;

pub use config::RaftConfig;
pub use kv::{Kv, KvCommand, KvItem};
pub use log::RaftLog;
pub use membership::Membership;
pub use message::{Entry, LogId, Message, Payload, SnapshotMeta};
pub use raft::{Raft, Role, TIMER_ELECTION, TIMER_HEARTBEAT};
pub use request::{RaftError, Reply, Request};
pub use status::{FollowerStatus, RaftStatus};
pub use storage::Record;
