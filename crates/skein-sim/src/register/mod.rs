//! `register`: a small replicated key-value register that exists to test the
//! simulator — and to prove it finds bugs. It is multi-writer ABD (Attiya,
//! Bar-Noy & Dolev, 1995; Lynch & Shvartsman's multi-writer form):
//!
//! ```text
//!  client ─Put(k,v)─▶ coordinator ─Query(k)──▶ all   (wait for a majority)
//!                                ◀─QueryReply(ts,v)─
//!                     ts' = (max ts).next(me)
//!                                ─Store(k,ts',v)─▶ all  (replicas persist,
//!                                ◀─StoreAck──────        then ack)
//!  client ◀─Written── after a majority of acks
//!  Get(k): the same two phases; the second writes back the highest value
//!  seen, so no later read can return an older one.
//! ```
//! Any majority intersects any other, which is what makes it linearizable
//! despite f < n/2 crashes and any partition. Two test-only bugs break that:
//! [`RegisterBug::SkipQuorum`] waits for n/2 answers instead of n/2+1 (an
//! off-by-one that lets two "quorums" miss each other), and
//! [`RegisterBug::SkipWriteBack`] returns reads after the first phase
//! (a concurrent read can then see a newer value before an older one).

mod coordinator;
mod protocol;
mod replica;

pub use protocol::Register;

use serde::{Deserialize, Serialize};

/// Operations a coordinator runs at once; more are refused with `Busy`.
pub const OPS_IN_FLIGHT_MAX: usize = 64;
/// Store acks waiting for the disk; more are dropped (the coordinator retries).
pub const ACKS_WAITING_MAX: usize = 1_024;
/// Records appended before the log is compacted into one snapshot.
pub const RECORDS_BEFORE_SNAPSHOT: u32 = 32;
/// Keys a replica stores; writes to more are refused, bounding memory.
pub const KEYS_MAX: usize = 1_024;

/// A write's timestamp: ordered by counter, then writer, then the writer's
/// boot nonce (so a restarted writer never reuses a timestamp with another value).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ts {
    pub counter: u64,
    pub node: u16,
    pub boot: u32,
}

/// A deliberately injected bug, for showing that seed sweeps find bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterBug {
    /// Quorums of n/2 instead of n/2 + 1.
    SkipQuorum,
    /// Reads skip the write-back phase.
    SkipWriteBack,
}

impl RegisterBug {
    pub const ALL: [RegisterBug; 2] = [RegisterBug::SkipQuorum, RegisterBug::SkipWriteBack];

    pub fn name(self) -> &'static str {
        match self {
            RegisterBug::SkipQuorum => "skip-quorum",
            RegisterBug::SkipWriteBack => "skip-write-back",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterConfig {
    pub tick_interval_ms: u64,
    /// Unanswered phase messages are resent this often.
    pub retry_ms: u64,
    /// An operation not done by then is answered `Timeout` (outcome unknown).
    pub op_timeout_ms: u64,
    /// Test-only: `None` in any real use.
    pub bug: Option<RegisterBug>,
}

impl Default for RegisterConfig {
    fn default() -> Self {
        Self {
            tick_interval_ms: 20,
            retry_ms: 100,
            op_timeout_ms: 1_000,
            bug: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterMessage {
    Query {
        op: u64,
        key: u64,
    },
    QueryReply {
        op: u64,
        ts: Ts,
        value: Option<u64>,
    },
    Store {
        op: u64,
        key: u64,
        ts: Ts,
        value: Option<u64>,
    },
    StoreAck {
        op: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterRequest {
    Get { key: u64 },
    Put { key: u64, value: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterReply {
    Value(Option<u64>),
    Written,
    /// Gave up; a `Put` may or may not have taken effect.
    Timeout,
    /// Refused before doing anything.
    Busy,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegisterStatus {
    pub keys: usize,
    pub ops_in_flight: usize,
    pub acks_waiting: usize,
    pub durable_token: u64,
}

/// What a replica writes to disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Record {
    Store {
        key: u64,
        ts: Ts,
        value: Option<u64>,
    },
    Snapshot(Vec<(u64, Ts, Option<u64>)>),
}
