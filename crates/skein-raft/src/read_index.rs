//! Linearizable reads without log writes: ReadIndex (thesis §6.4) and,
//! optionally, lease reads (thesis §6.4.1).
//!
//! ReadIndex: a read arriving at the leader records the commit index (once
//! the leader has committed an entry of its term), waits for a round of
//! heartbeats sent *after* it arrived to be acknowledged by a majority —
//! proving the leader was still leader — then for the state machine to
//! apply up to the recorded index, and is answered from local state.
//! Rounds are numbered (`read_seq`); every AppendEntries carries the latest
//! round, so many reads share one round (batching).
//!
//! Lease reads: after a majority acknowledged a round sent at time `t`, the
//! leader serves reads without a round until `t + lease_duration`, where the
//! lease is the minimum election timeout less `clock_drift_percent`. Safe
//! only if clocks run at rates within that bound: followers refuse votes for
//! an election timeout after hearing from the leader, so no other leader can
//! be elected before the lease ends.

use crate::raft::Raft;
use crate::request::{RaftError, Reply, Request};
use skein_core::{Context, RequestId};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

#[derive(Clone, Debug)]
pub(crate) struct PendingRead {
    pub id: RequestId,
    pub request: Request,
    /// The round that must be confirmed; 0 for a lease read.
    pub seq: u64,
    /// Commit index to wait for; unknown until the term's first commit.
    pub read_index: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct ReadState {
    reads: VecDeque<PendingRead>,
    sent_seq: u64,
    confirmed_seq: u64,
    /// When each unconfirmed round was sent.
    sent_at: BTreeMap<u64, Duration>,
    lease_until: Duration,
}

impl ReadState {
    pub fn new(now: Duration) -> Self {
        Self {
            reads: VecDeque::new(),
            sent_seq: 0,
            confirmed_seq: 0,
            sent_at: BTreeMap::new(),
            lease_until: now,
        }
    }

    pub fn sent_seq(&self) -> u64 {
        self.sent_seq
    }

    pub fn len(&self) -> usize {
        self.reads.len()
    }

    pub fn into_pending(self) -> VecDeque<PendingRead> {
        self.reads
    }

    /// The leader committed its first entry of the term at `commit`.
    pub fn term_committed(&mut self, commit: u64) {
        for read in self.reads.iter_mut() {
            read.read_index.get_or_insert(commit);
        }
    }
}

impl Raft {
    pub(crate) fn on_read(&mut self, ctx: &mut Context<'_, Self>, id: RequestId, request: Request) {
        let max = self.config.pending_reads_max;
        let committed = self.committed_in_term().then_some(self.commit_index);
        let lease_ok = self.config.lease_read
            && committed.is_some()
            && self.leader_ref().transfer.is_none()
            && self.now < self.leader_ref().reads.lease_until;
        let reads = &mut self.leader_mut().reads;
        if reads.len() >= max {
            let pending = reads.len();
            ctx.reply(id, Reply::Error(RaftError::Overloaded { pending, max }));
            return;
        }
        let seq = if lease_ok { 0 } else { reads.sent_seq + 1 };
        reads.reads.push_back(PendingRead {
            id,
            request,
            seq,
            read_index: committed,
        });
        if !lease_ok && reads.sent_seq == reads.confirmed_seq {
            self.start_read_round(ctx);
        }
        self.serve_reads(ctx);
    }

    /// Sends a heartbeat carrying a new round number to every peer.
    fn start_read_round(&mut self, ctx: &mut Context<'_, Self>) {
        self.start_read_round_if_idle();
        let peers: Vec<_> = self.leader_ref().progress.keys().copied().collect();
        for peer in peers {
            self.heartbeat(ctx, peer);
        }
        self.confirm_reads(ctx);
    }

    /// Opens a new round (carried by the next heartbeats) if none is open.
    pub(crate) fn start_read_round_if_idle(&mut self) {
        let now = self.now;
        let reads = &mut self.leader_mut().reads;
        if reads.sent_seq == reads.confirmed_seq {
            reads.sent_seq += 1;
            reads.sent_at.insert(reads.sent_seq, now);
        }
    }

    /// Confirms the highest round a majority of voters acknowledged.
    pub(crate) fn confirm_reads(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.is_leader() {
            return;
        }
        let membership = self.membership().clone();
        let lease = self.config.lease_duration();
        let id = self.id;
        let state = self.leader_mut();
        let mut acked: Vec<u64> = membership
            .voters
            .iter()
            .map(|&v| {
                if v == id {
                    state.reads.sent_seq
                } else {
                    state.progress.get(&v).map_or(0, |p| p.read_seq_acked)
                }
            })
            .collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&confirmed) = acked.get(membership.quorum() - 1) else {
            return;
        };
        let reads = &mut state.reads;
        if confirmed <= reads.confirmed_seq {
            return;
        }
        reads.confirmed_seq = confirmed;
        if let Some(&sent) = reads.sent_at.get(&confirmed) {
            reads.lease_until = reads.lease_until.max(sent + lease);
        }
        reads.sent_at = reads.sent_at.split_off(&(confirmed + 1));
        let waiting = reads.reads.iter().any(|r| r.seq > confirmed);
        if waiting {
            self.start_read_round(ctx);
        }
        self.serve_reads(ctx);
    }

    /// Answers every read whose round is confirmed and whose index is applied.
    pub(crate) fn serve_reads(&mut self, ctx: &mut Context<'_, Self>) {
        let applied = self.applied_index;
        let Some(state) = self.leader_state.as_mut() else {
            return;
        };
        let confirmed = state.reads.confirmed_seq;
        let mut waiting = VecDeque::new();
        for read in std::mem::take(&mut state.reads.reads) {
            let ready = read.seq <= confirmed && read.read_index.is_some_and(|r| r <= applied);
            if !ready {
                waiting.push_back(read);
                continue;
            }
            let reply = match &read.request {
                Request::Get { key } => self.kv.get(key),
                Request::List {
                    prefix,
                    start_after,
                    limit,
                } => self.kv.list(prefix, start_after.as_deref(), *limit),
                other => unreachable!("only reads are queued, not {other:?}"),
            };
            ctx.reply(read.id, reply);
        }
        state.reads.reads = waiting;
    }
}
