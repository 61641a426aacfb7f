//! Read-only views of a node: the status page and what checkers inspect.

use crate::kv::Kv;
use crate::log::RaftLog;
use crate::membership::Membership;
use crate::progress::ProgressState;
use crate::raft::{Raft, Role};
use serde::Serialize;
use skein_core::NodeId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowerStatus {
    pub id: NodeId,
    pub match_index: u64,
    pub next_index: u64,
    pub state: ProgressState,
    pub inflight: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RaftStatus {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voted_for: Option<NodeId>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub durable_index: u64,
    pub snapshot_index: u64,
    pub membership: Membership,
    /// Present on the leader only.
    pub followers: Vec<FollowerStatus>,
    pub pending_proposals: usize,
    pub pending_reads: usize,
    pub keys: usize,
}

impl Raft {
    pub(crate) fn status_view(&self) -> RaftStatus {
        let followers = self
            .leader_state
            .iter()
            .flat_map(|s| s.progress.iter())
            .map(|(&id, p)| FollowerStatus {
                id,
                match_index: p.match_index,
                next_index: p.next_index,
                state: p.state,
                inflight: p.inflight.len(),
            })
            .collect();
        RaftStatus {
            id: self.id,
            role: self.role,
            term: self.term,
            leader: self.leader,
            voted_for: self.voted_for,
            commit_index: self.commit_index,
            applied_index: self.applied_index,
            last_log_index: self.log.last_index(),
            durable_index: self.durability.durable_index(),
            snapshot_index: self.snapshot.last.index,
            membership: self.membership().clone(),
            followers,
            pending_proposals: self.leader_state.as_ref().map_or(0, |s| s.proposals.len()),
            pending_reads: self.leader_state.as_ref().map_or(0, |s| s.reads.len()),
            keys: self.kv.len(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }

    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn durable_index(&self) -> u64 {
        self.durability.durable_index()
    }

    /// The log after the last snapshot, and the snapshot's last entry.
    pub fn log_view(&self) -> &RaftLog {
        &self.log
    }

    /// The latest configuration (committed or not).
    pub fn membership_view(&self) -> &Membership {
        self.membership()
    }

    /// The applied index and a digest of every entry applied up to it (see
    /// `apply::digest_step`): two nodes at the same applied index must agree.
    pub fn applied_state_digest(&self) -> (u64, u64) {
        (self.applied_index, self.applied_digest)
    }

    pub fn kv(&self) -> &Kv {
        &self.kv
    }
}
