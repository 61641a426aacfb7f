//! What clients ask a gossip node and what it answers; what its status shows.

use crate::membership::MemberState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most messages one `Messages` page returns.
pub const PAGE_MAX: usize = 256;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GossipRequest {
    /// Broadcast `payload` (UTF-8 text) to every live node.
    Broadcast {
        payload: String,
    },
    /// Delivered messages with a sequence number above `after`, oldest first.
    Messages {
        after: u64,
        limit: usize,
    },
    Peers,
    /// Leave the overlay gracefully: tell every live member, then stop.
    Leave,
    /// A beacon's record of who delivered message `id` (16 hex digits) and when.
    Trace {
        id: String,
    },
    /// A join proof of work the driver solved for this node's key (see
    /// `pow_wanted` in the status); the core checks it, then joins.
    ProofOfWork {
        nonce: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum GossipReply {
    Broadcasted {
        id: String,
    },
    Messages {
        messages: Vec<DeliveredMessage>,
        next_after: u64,
    },
    Peers {
        peers: Vec<PeerView>,
    },
    Left {
        told: usize,
    },
    Trace(TraceView),
    ProofOfWorkAccepted,
    Error {
        code: u16,
        error: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveredMessage {
    /// This node's delivery sequence number (page with `after`).
    pub seq: u64,
    pub id: String,
    pub origin: u16,
    pub payload: String,
    pub hops: u16,
    pub delivered_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    pub id: u16,
    pub key_id: String,
    pub state: String,
    pub incarnation: u64,
    pub address: String,
    /// Milliseconds since this node last heard from it directly.
    pub last_heard_ms_ago: u64,
    pub beacon: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    pub id: String,
    /// Nodes that reported delivery (the beacon's own delivery included).
    pub nodes: usize,
    /// (node, ms after the beacon's first report, hops), earliest first.
    pub reports: Vec<(u16, u64, u16)>,
}

/// Capabilities a gossip node advertises in its status.
pub const CAPABILITIES: [&str; 6] = [
    "gossip/swim-membership",
    "gossip/plumtree-broadcast",
    "gossip/ed25519-identity",
    "gossip/peer-sync",
    "gossip/beacon",
    "gossip/leave",
];

#[derive(Clone, Debug, Serialize)]
pub struct GossipStatus {
    pub node_id: u16,
    /// The key-derived identity (sha256 of the public key, first 8 bytes).
    pub key_id: String,
    pub version: u16,
    pub capabilities: Vec<&'static str>,
    pub incarnation: u64,
    pub joined: bool,
    pub left: bool,
    pub beacon: bool,
    pub members: BTreeMap<&'static str, usize>,
    pub eager_peers: Vec<u16>,
    pub lazy_peers: usize,
    pub delivered: u64,
    pub seen_cached: usize,
    pub messages_cached: usize,
    pub pending_updates: usize,
    pub sent: BTreeMap<&'static str, u64>,
    pub received: BTreeMap<&'static str, u64>,
    pub counters: Counters,
    /// The last refusal this node gave or got, with its reason.
    pub last_refusal: Option<String>,
    /// A join proof of work this node waits for: the driver solves it off
    /// the core's loop and hands the nonce in with `ProofOfWork`.
    pub pow_wanted: Option<PowWanted>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowWanted {
    /// The node's public key, hex.
    pub key: String,
    pub bits: u8,
}

/// Things counted, never fatal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Broadcast copies that arrived after the first (the wire's duplicates).
    pub duplicates: u64,
    /// Copies of messages delivered here and since forgotten by the
    /// seen-cache (at or below their origin's floor): not delivered again.
    pub stale_rejects: u64,
    pub signature_rejects: u64,
    pub identity_conflicts: u64,
    pub incompatible_versions: u64,
    pub joins_admitted: u64,
    pub joins_refused: u64,
    pub joins_rate_limited: u64,
    pub over_limit_messages: u64,
    pub suspicions_raised: u64,
    pub refutations: u64,
    pub grafts_sent: u64,
    /// Eager parents swapped for a much shorter path (Plumtree's optimization).
    pub tree_shortcuts: u64,
}

pub fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Alive => "alive",
        MemberState::Suspect => "suspect",
        MemberState::Dead => "dead",
        MemberState::Left => "left",
    }
}
