//! What clients ask a node, and what it answers.

use crate::message::{NodeRef, Version};
use serde::{Deserialize, Serialize};
use skein_core::PeerAddress;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Network store: the key goes to its responsible node and replicas.
    Put {
        key: String,
        value: Vec<u8>,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
    /// Which node is responsible for `key`, and in how many hops.
    Lookup {
        key: String,
    },
    /// Local store: this node's own data, never replicated.
    LocalPut {
        key: String,
        value: Vec<u8>,
    },
    LocalGet {
        key: String,
    },
    LocalDelete {
        key: String,
    },
    Routing,
    Size,
    /// Join the ring through `via` (after a leave, or to move rings).
    Join {
        via: PeerAddress,
    },
    /// Hand every key to the successor, tell the neighbours, stop serving.
    Leave,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Stored {
        version: Version,
        replicas: u8,
    },
    Value {
        value: Vec<u8>,
        version: Version,
    },
    NotFound,
    /// `version`: the tombstone's (network store); `None` in the local store.
    Deleted {
        existed: bool,
        version: Option<Version>,
    },
    Lookup(LookupResult),
    Routing(RoutingView),
    Size(SizeEstimate),
    Joining,
    Left {
        items_handed_over: usize,
    },
    Error(DhtError),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResult {
    pub key: String,
    pub key_ring: String,
    /// The responsible node (the key's successor on the ring).
    pub node: NodeRef,
    /// Remote nodes asked (0: this node knew the answer).
    pub hops: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingView {
    pub node: NodeRef,
    pub state: String,
    pub predecessor: Option<NodeRef>,
    pub successors: Vec<NodeRef>,
    /// Distinct fingers: `(first index, last index, node)` runs.
    pub fingers: Vec<FingerRun>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerRun {
    pub from_index: u8,
    pub to_index: u8,
    pub node: NodeRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SizeEstimate {
    /// Estimated nodes in the ring, from the density of nearby ids.
    pub nodes: f64,
    /// How many id gaps the estimate used (more gaps, smaller error).
    pub gaps: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DhtError {
    #[error("key is {len} bytes, more than the limit of {max}")]
    KeyTooLarge { len: usize, max: usize },
    #[error("value is {len} bytes, more than the limit of {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("the store is full ({max} keys); delete keys or raise dht.keys_max")]
    StoreFull { max: usize },
    #[error("{pending} operations in flight on this node; retry later")]
    Busy { pending: usize },
    #[error("this node is not in a ring (it left or has not joined yet); POST /api/v1/dht/join")]
    NotJoined,
    #[error("the lookup failed: {why}")]
    LookupFailed { why: String },
    #[error("no replica answered within {timeout_ms} ms; retry")]
    Timeout { timeout_ms: u64 },
    #[error("the ring kept changing under the operation; retry")]
    RingChanging,
}
