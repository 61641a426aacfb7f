//! What Raft peers say to each other, and the log entry they replicate.

use crate::kv::KvCommand;
use crate::membership::Membership;
use serde::{Deserialize, Serialize};

/// A position in the log. Ordered by term first, so `a > b` means log `a`
/// is more up to date than log `b` (Raft §5.4.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct LogId {
    pub term: u64,
    pub index: u64,
}

impl LogId {
    pub const fn new(term: u64, index: u64) -> Self {
        Self { term, index }
    }
}

/// What an entry asks the state machine to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Appended by every new leader so it can commit entries of older terms
    /// (Raft §5.4.2, thesis §6.4 step 1).
    Noop,
    Command(KvCommand),
    /// The whole new membership; it takes effect as soon as it is appended
    /// (thesis §4.1), committed or not.
    Config(Membership),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub payload: Payload,
}

impl Entry {
    pub fn log_id(&self) -> LogId {
        LogId::new(self.term, self.index)
    }

    /// An upper estimate of the entry's encoded size, for batch limits.
    pub fn size_bytes(&self) -> usize {
        let body = match &self.payload {
            Payload::Noop => 0,
            Payload::Command(cmd) => cmd.size_bytes(),
            Payload::Config(m) => {
                let addresses: usize = m.addresses.values().map(|a| a.0.len() + 4).sum();
                4 * (m.voters.len() + m.learners.len()) + addresses
            }
        };
        body + 24
    }
}

/// Describes the state a snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last entry the snapshot includes.
    pub last: LogId,
    /// The membership in force at `last`.
    pub membership: Membership,
    /// The applied-state digest at `last` (see `Raft::applied_state_digest`).
    pub digest: u64,
}

/// A follower's hint for fast backtracking (thesis §5.3 "optimization").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictHint {
    /// The follower's term at the rejected `prev` index, if it has that index.
    pub term: Option<u64>,
    /// The first index of `term` in the follower's log, or its last index + 1.
    pub index: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// RequestVote, or its pre-vote probe (thesis §9.6). `term` is the
    /// proposed term for a pre-vote. `force` skips the leader-lease check
    /// (set after TimeoutNow, thesis §3.10).
    RequestVote {
        term: u64,
        last: LogId,
        pre_vote: bool,
        force: bool,
    },
    VoteResponse {
        term: u64,
        granted: bool,
        pre_vote: bool,
    },
    AppendEntries {
        term: u64,
        prev: LogId,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// ReadIndex round this message belongs to; echoed back.
        read_seq: u64,
    },
    AppendResponse {
        term: u64,
        success: bool,
        /// Highest index known to match the leader's log and durable here.
        match_index: u64,
        /// On rejection: the `prev.index` that was rejected, and a hint.
        rejected_prev: u64,
        hint: Option<ConflictHint>,
        read_seq: u64,
    },
    InstallSnapshot {
        term: u64,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    },
    SnapshotResponse {
        term: u64,
        /// The snapshot's last index this answers for.
        last_index: u64,
        /// Bytes received so far; the leader sends from here next.
        next_offset: u64,
        done: bool,
    },
    /// Leadership transfer: start an election now (thesis §3.10).
    TimeoutNow { term: u64 },
}

impl Message {
    pub fn term(&self) -> u64 {
        match self {
            Message::RequestVote { term, .. }
            | Message::VoteResponse { term, .. }
            | Message::AppendEntries { term, .. }
            | Message::AppendResponse { term, .. }
            | Message::InstallSnapshot { term, .. }
            | Message::SnapshotResponse { term, .. }
            | Message::TimeoutNow { term } => *term,
        }
    }
}
