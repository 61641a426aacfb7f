//! What nodes say to each other. Every message carries its sender's
//! [`NodeRef`], so a receiver can answer a node it has never heard of (it
//! adds the sender to its driver's peer set first).

use crate::ring::RingId;
use serde::{Deserialize, Serialize};
use skein_core::{NodeId, PeerAddress};

/// A node as the ring knows it: driver id, ring position, and where to dial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeRef {
    pub id: NodeId,
    pub ring: RingId,
    pub address: PeerAddress,
}

impl NodeRef {
    pub fn new(id: NodeId, address: PeerAddress) -> Self {
        Self {
            id,
            ring: RingId::of_address(&address),
            address,
        }
    }

    /// Whether the ring id really is the hash of the address (a peer cannot
    /// pick its own position).
    pub fn is_consistent(&self) -> bool {
        self.ring == RingId::of_address(&self.address)
    }
}

/// A key's version. Last writer wins: the higher `counter` wins, and on equal
/// counters the higher `writer` node id, so every replica picks the same
/// winner whatever order writes arrive in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Version {
    pub counter: u64,
    pub writer: u16,
}

/// One stored key. `value: None` is a tombstone: a delete must win over older
/// writes still held by lagging replicas, so it is a write too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    pub value: Option<Vec<u8>>,
    pub version: Version,
}

impl Item {
    pub fn bytes(&self) -> usize {
        self.key.len() + self.value.as_ref().map_or(0, Vec::len)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeRef,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Iterative lookup step: who is responsible for `key`, or who is closer?
    FindSuccessor {
        lookup: u64,
        key: RingId,
    },
    /// The responsible node first, then its successors.
    Found {
        lookup: u64,
        nodes: Vec<NodeRef>,
    },
    /// Ask this node next.
    Closer {
        lookup: u64,
        node: NodeRef,
    },
    /// Stabilize: tell me your predecessor and successor list.
    GetNeighbours,
    Neighbours {
        predecessor: Option<NodeRef>,
        successors: Vec<NodeRef>,
    },
    /// "I might be your predecessor" (Chord §4.4).
    Notify,
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    /// To the responsible node: store this key (`None` deletes) at a new version.
    Write {
        op: u64,
        key: String,
        value: Option<Vec<u8>>,
    },
    WriteDone {
        op: u64,
        outcome: WriteOutcome,
    },
    Read {
        op: u64,
        key: String,
    },
    ReadDone {
        op: u64,
        item: Option<Item>,
    },
    /// Items for a replica (or a new owner); `ack` asks for a `ReplicateAck`.
    Replicate {
        items: Vec<Item>,
        ack: Option<u64>,
    },
    /// `complete`: every item is now held at its version or a newer one
    /// (false if the store was full for some).
    ReplicateAck {
        ack: u64,
        complete: bool,
    },
    /// From a key's responsible node, once every replica acknowledged its
    /// tombstone and the tombstone is older than `tombstone_ttl_ms`: drop
    /// these tombstones if still at these versions (`gc.rs`).
    Forget {
        keys: Vec<(String, Version)>,
    },
    /// A graceful leave: the leaver's neighbours, so the ring closes over it.
    Leaving {
        predecessor: Option<NodeRef>,
        successors: Vec<NodeRef>,
    },
}

/// How the responsible node answered a write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOutcome {
    /// Stored at `version` on `replicas` nodes (this one included).
    Stored {
        version: Version,
        replicas: u8,
        existed: bool,
    },
    /// This node is not responsible for the key (the ring changed); look up again.
    NotResponsible,
    /// The store is full.
    Full,
}
