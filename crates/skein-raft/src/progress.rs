//! What a leader tracks: per-follower replication progress (as raft-rs's
//! `Progress`), client proposals awaiting apply, reads, and transfers.

use crate::raft::Raft;
use crate::read_index::ReadState;
use crate::request::{RaftError, Reply};
use skein_core::{Context, NodeId, RequestId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProgressState {
    /// One AppendEntries at a time until the follower's log position is found.
    Probe,
    /// Pipelining: up to `inflight_appends_max` AppendEntries in flight.
    Replicate,
    /// Sending the snapshot ending at `last_index`, chunk by chunk.
    Snapshot { last_index: u64, offset: u64 },
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub match_index: u64,
    pub next_index: u64,
    pub state: ProgressState,
    /// Last index carried by each AppendEntries in flight, oldest first.
    pub inflight: VecDeque<u64>,
    /// When the follower last acknowledged anything (to detect lost messages).
    pub last_progress_at: Duration,
    /// When the last snapshot chunk was sent.
    pub last_sent_at: Duration,
    /// Heard from in the current check-quorum period.
    pub recent_active: bool,
    /// Highest ReadIndex round the follower acknowledged in this term.
    pub read_seq_acked: u64,
}

impl Progress {
    pub fn new(next_index: u64, now: Duration) -> Self {
        Self {
            match_index: 0,
            next_index,
            state: ProgressState::Probe,
            inflight: VecDeque::new(),
            last_progress_at: now,
            last_sent_at: now,
            recent_active: false,
            read_seq_acked: 0,
        }
    }

    pub fn reset_to_probe(&mut self, now: Duration) {
        self.state = ProgressState::Probe;
        self.inflight.clear();
        self.next_index = self.match_index + 1;
        self.last_progress_at = now;
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub target: NodeId,
    pub deadline: Duration,
    pub timeout_now_sent: bool,
}

#[derive(Debug)]
pub(crate) struct LeaderState {
    pub progress: BTreeMap<NodeId, Progress>,
    /// Log index → the client request waiting for it to be applied.
    pub proposals: BTreeMap<u64, RequestId>,
    /// Index of this term's first entry (its no-op).
    pub term_start_index: u64,
    pub reads: ReadState,
    pub transfer: Option<Transfer>,
    /// Learners to promote to voters once caught up (AddMember).
    pub auto_promote: BTreeSet<NodeId>,
    pub check_quorum_at: Duration,
}

impl LeaderState {
    pub fn new(now: Duration, check_quorum_at: Duration) -> Self {
        Self {
            progress: BTreeMap::new(),
            proposals: BTreeMap::new(),
            term_start_index: u64::MAX,
            reads: ReadState::new(now),
            transfer: None,
            auto_promote: BTreeSet::new(),
            check_quorum_at,
        }
    }

    /// Answers every waiting client when leadership ends. Writes may still
    /// commit under the next leader, so their outcome is unknown; reads did
    /// nothing and are redirected.
    pub fn fail_pending(self, ctx: &mut Context<'_, Raft>, leader: Option<NodeId>) {
        for (_, id) in self.proposals {
            ctx.reply(id, Reply::Error(RaftError::LeadershipLost));
        }
        for read in self.reads.into_pending() {
            ctx.reply(read.id, Reply::NotLeader { leader });
        }
    }
}

impl Raft {
    pub(crate) fn leader_mut(&mut self) -> &mut LeaderState {
        self.leader_state
            .as_mut()
            .expect("called only while leader")
    }

    pub(crate) fn leader_ref(&self) -> &LeaderState {
        self.leader_state
            .as_ref()
            .expect("called only while leader")
    }

    /// Whether this leader has committed an entry of its own term, which it
    /// needs before serving reads or changing membership (thesis §6.4, §4.1).
    pub(crate) fn committed_in_term(&self) -> bool {
        self.leader_state
            .as_ref()
            .is_some_and(|s| self.commit_index >= s.term_start_index)
    }

    /// Tracks exactly the members of the latest configuration.
    pub(crate) fn sync_progress(&mut self) {
        let peers: BTreeSet<NodeId> = self.membership().peers(self.id).collect();
        let next = self.log.last_index() + 1;
        let now = self.now;
        let state = self.leader_mut();
        state.progress.retain(|id, _| peers.contains(id));
        for peer in peers {
            state
                .progress
                .entry(peer)
                .or_insert_with(|| Progress::new(next, now));
        }
        state
            .auto_promote
            .retain(|id| state.progress.contains_key(id));
    }
}
