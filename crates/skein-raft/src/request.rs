//! What clients ask a Raft node and what it answers.

use crate::kv::KvItem;
use crate::membership::Membership;
use serde::{Deserialize, Serialize};
use skein_core::{NodeId, PeerAddress};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Put {
        key: String,
        value: String,
    },
    /// Linearizable read (ReadIndex, or a lease read if configured).
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
    /// Writes `value` only if the key's revision is `expected_revision`
    /// (0 means: only if the key is absent).
    Cas {
        key: String,
        expected_revision: u64,
        value: String,
    },
    /// Keys starting with `prefix`, after `start_after`, in key order, at
    /// most `limit` (clamped to `LIST_LIMIT_MAX`).
    List {
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    },
    /// Adds a node as a learner that the leader promotes to voter once caught up.
    /// `address` (the driver's form, e.g. `4@10.0.0.4:5004:7004`) is where
    /// members dial it; without one, members must already know it (their
    /// `--peers`). It is stored with the configuration.
    AddMember {
        id: NodeId,
        #[serde(default)]
        address: Option<PeerAddress>,
    },
    /// Adds a node as a learner that stays non-voting (`address` as above).
    AddLearner {
        id: NodeId,
        #[serde(default)]
        address: Option<PeerAddress>,
    },
    /// Makes a caught-up learner a voter.
    Promote {
        id: NodeId,
    },
    /// Removes a voter or learner (the leader itself included).
    RemoveMember {
        id: NodeId,
    },
    /// Hands leadership to `to`, or to the most caught-up voter.
    TransferLeader {
        to: Option<NodeId>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A put was applied; `revision` is the log index that wrote it.
    Written {
        revision: u64,
    },
    Deleted {
        existed: bool,
        revision: u64,
    },
    /// `revision` is the key's revision after the operation (0 if absent).
    Cas {
        succeeded: bool,
        revision: u64,
    },
    Value {
        value: Option<String>,
        revision: u64,
    },
    List {
        items: Vec<KvItem>,
        more: bool,
    },
    /// A membership change was committed at `index`.
    Membership {
        membership: Membership,
        index: u64,
    },
    TransferStarted {
        to: NodeId,
    },
    /// This node is not the leader; retry at `leader` if known. Nothing was done.
    NotLeader {
        leader: Option<NodeId>,
    },
    Error(RaftError),
}

/// Why a request failed. Each says whether anything may have been written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RaftError {
    #[error("key of {len} bytes exceeds the limit of {max} bytes; nothing was written")]
    KeyTooLarge { len: usize, max: usize },
    #[error("value of {len} bytes exceeds the limit of {max} bytes; nothing was written")]
    ValueTooLarge { len: usize, max: usize },
    #[error("{pending} requests are pending (limit {max}); retry later, nothing was written")]
    Overloaded { pending: usize, max: usize },
    #[error("leadership was lost before the write was applied; it may or may not take effect, read before retrying")]
    LeadershipLost,
    #[error("a membership change is still in progress; retry once it is committed")]
    ConfigChangeInProgress,
    #[error("node {id} is not caught up with the leader yet; retry later")]
    NotCaughtUp { id: NodeId },
    #[error("node {id} is not a member that this change applies to")]
    UnknownNode { id: NodeId },
    #[error("a leadership transfer is in progress; retry at the new leader")]
    TransferInProgress,
    #[error("the request would leave the cluster without voters")]
    NoVotersLeft,
    #[error("a peer address of {len} bytes exceeds the limit of {max} bytes; nothing was changed")]
    AddressTooLong { len: usize, max: usize },
}
