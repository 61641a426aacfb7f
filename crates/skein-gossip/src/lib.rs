//! skein-gossip: the `gossip` service's protocol core — a peer-to-peer
//! overlay with signed identities, boot-node join, SWIM membership and
//! Plumtree broadcast, as a sans-IO state machine.
//!
//! Owns: Ed25519 identities bound to node ids ([`identity`]), join and
//! admission with Sybil limits and peer sync ([`join`]), SWIM failure
//! detection ([`swim`]) over a signed membership table ([`membership`],
//! [`dissemination`]), Plumtree broadcast with a bounded seen-cache,
//! anti-entropy for late joiners and exactly-once delivery that survives
//! restarts (a delivery is shown once its record is durable) and the
//! seen-cache forgetting (signed per-origin stamps and floors) ([`plumtree`],
//! [`floors`], [`broadcast`]), beacon coverage traces ([`trace`]) and its durable
//! snapshot ([`storage`]). The join proof of work is solved by the driver
//! and handed in (`GossipRequest::ProofOfWork`), never inside a step.
//!
//! Must not do I/O: no sockets, files, clocks, threads or global random
//! generator; time and randomness arrive through `Context` and `Boot`.
//! `skein-core/tests/no_io.rs` checks it.
//!
//! Start reading at [`node::Gossip`] (boot and dispatch), then `updates.rs`, `swim.rs`
//! and `plumtree.rs`; `ALGORITHM.md` beside this crate has the overview.

pub mod api;
mod broadcast;
pub mod config;
pub mod dissemination;
pub mod floors;
pub mod fuzzing;
pub mod identity;
mod join;
pub mod membership;
pub mod message;
pub mod node;
pub mod plumtree;
pub mod storage;
pub mod swim;
pub mod trace;
mod updates;

#[cfg(test)]
mod tests;

pub use api::{GossipReply, GossipRequest, GossipStatus};
pub use config::GossipConfig;
pub use membership::MemberState;
pub use message::{GossipMessage, MessageId};
pub use node::Gossip;

/// Frame protocol id of gossip.
pub const PROTOCOL_ID: u16 = 5;
/// Wire version; a peer speaking another one is refused with a reason.
/// 2: broadcasts carry a signed per-origin stamp instead of a random nonce.
pub const GOSSIP_VERSION: u16 = 2;

/// Whether a peer's advertised version can talk to this one.
pub fn compatible(version: u16) -> bool {
    version == GOSSIP_VERSION
}
