//! What replicas say to each other, and what clients ask and get back.

use crate::byzantine::ByzantineBehaviour;
use crate::edfd::EdfdMsg;
use crate::fd::FdMsg;
use crate::machine::OpResult;
use crate::node::BftState;
use crate::pm::PmMsg;
use crate::rep::RepMsg;
use crate::types::{ClientId, Op, Value};
use crate::ve::VeMsg;
use serde::{Deserialize, Serialize};

/// One message between replicas. The sender is the `from` the driver gives
/// with it (the link's peer), never a field of the payload (§8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BftMessage {
    /// View establishment, on the stream channel, every tick.
    Ve(VeMsg),
    /// Replication: own structure (machine only every R ticks), every tick.
    Rep(Box<RepMsg>),
    /// "Send me your full structure": a cached copy failed to verify.
    StateRequest,
    /// Primary monitoring, every tick.
    Pm(PmMsg),
    /// Failure-detector token, on the self-stabilizing datagram channel.
    Fd(FdMsg),
    /// Event-driven failure detector token.
    Edfd(EdfdMsg),
}

impl BftMessage {
    /// The module a message belongs to (for per-module traffic metrics).
    pub fn module(&self) -> &'static str {
        match self {
            BftMessage::Ve(_) => "ve",
            BftMessage::Rep(_) | BftMessage::StateRequest => "rep",
            BftMessage::Pm(_) => "pm",
            BftMessage::Fd(_) => "fd",
            BftMessage::Edfd(_) => "edfd",
        }
    }
}

/// A client's request to one replica.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BftRequest {
    /// Order and execute `op`. A client sends it to all n replicas and waits
    /// for f+1 matching `Executed` replies; `(client, ts)` identifies it and
    /// `ts` must grow with each request of the client.
    Submit { client: ClientId, ts: u64, op: Op },
    /// This replica's executed list, unordered (not linearizable; use `Op::Read`).
    Show,
    /// Inspection and fault injection by an operator, not a client operation
    /// (see [`AdminRequest`]).
    Admin(AdminRequest),
}

/// What an operator (the node's REST API, a test) asks of one replica. Not
/// part of the algorithm: these requests emulate the faults of BFTLIST.md §4
/// and §5 on a real node. The ones that change the state are refused unless
/// the node runs with `allow_fault_injection` (the node flag
/// `--allow-fault-injection`), whichever API path they come by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Every module's variables (read-only; always allowed).
    GetState,
    /// The emulated Byzantine behaviour now (read-only; always allowed).
    GetByzantine,
    /// Fault injection: act out a Byzantine behaviour (§5), or be correct again with None.
    SetByzantine(Option<ByzantineBehaviour>),
    /// Fault injection: a transient fault (§4) — every module's variables
    /// overwritten with arbitrary values drawn from a generator seeded with
    /// `seed`, so the same seed corrupts the same way.
    Corrupt { seed: u64 },
    /// Fault injection: replace every module's variables (the original's
    /// injected start state). Malformed parts are repaired at once.
    LoadState(Box<BftState>),
}

/// A replica's answer to an [`AdminRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminReply {
    State(Box<BftState>),
    /// The behaviour in force after the request.
    Byzantine(Option<ByzantineBehaviour>),
    Corrupted {
        seed: u64,
    },
    StateLoaded,
}

/// A replica's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BftReply {
    /// Executed here at `seq` with this result.
    Executed {
        client: ClientId,
        ts: u64,
        seq: i64,
        result: OpResult,
    },
    /// Executed earlier (or learnt by state transfer) at `seq`; the result
    /// itself is no longer known here.
    AlreadyExecuted { client: ClientId, ts: u64, seq: i64 },
    /// This replica's list after executing up to `last_exec`.
    List { last_exec: i64, list: Vec<Value> },
    /// Not accepted; says why.
    Refused { reason: String },
    /// The answer to an [`AdminRequest`].
    Admin(AdminReply),
}
