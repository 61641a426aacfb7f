//! Leader side of log replication (Raft §5.3): appending proposals,
//! pipelined and batched AppendEntries, heartbeats, fast backtracking on
//! rejection, and check-quorum (thesis §6.2).

use crate::message::{ConflictHint, Entry, LogId, Message, Payload};
use crate::progress::ProgressState;
use crate::raft::{Raft, TIMER_HEARTBEAT};
use crate::storage::Record;
use skein_core::{Context, NodeId};
use std::collections::BTreeSet;

impl Raft {
    /// Appends one entry of the current term to the leader's log, persists
    /// it and replicates it. Returns its index.
    pub(crate) fn propose(&mut self, ctx: &mut Context<'_, Self>, payload: Payload) -> u64 {
        assert!(self.is_leader(), "only a leader appends to its own log");
        let index = self.log.last_index() + 1;
        let entry = Entry {
            term: self.term,
            index,
            payload,
        };
        if let Payload::Config(m) = &entry.payload {
            // New peers start probing at this very entry.
            self.memberships.push(index, m.clone());
            self.sync_progress();
        }
        // Leader append-only (Figure 3): the log only ever grows here.
        self.log.push(entry.clone());
        // A node added now must be dialable before the first append goes out.
        self.sync_peers(ctx, false);
        self.persist(
            ctx,
            Record::Entries {
                entries: vec![entry],
            },
        );
        self.broadcast_append(ctx);
        // A single-voter cluster commits on its own durable write.
        index
    }

    pub(crate) fn broadcast_append(&mut self, ctx: &mut Context<'_, Self>) {
        let peers: Vec<NodeId> = self.leader_ref().progress.keys().copied().collect();
        for peer in peers {
            self.send_append(ctx, peer);
        }
    }

    /// Sends the next batch of entries to `peer` if its window allows.
    /// Returns true if something was sent.
    pub(crate) fn send_append(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) -> bool {
        let window = self.config.inflight_appends_max.max(1);
        let last_index = self.log.last_index();
        let Some(pr) = self.leader_ref().progress.get(&peer) else {
            return false;
        };
        let limit = match pr.state {
            ProgressState::Snapshot { .. } => return false,
            ProgressState::Probe => 1,
            ProgressState::Replicate => window,
        };
        if pr.inflight.len() >= limit || pr.next_index > last_index {
            return false;
        }
        let prev_index = pr.next_index - 1;
        let Some(prev_term) = self.log.term_at(prev_index) else {
            self.start_snapshot(ctx, peer);
            return true;
        };
        let entries = self.log.slice(
            pr.next_index,
            self.config.append_entries_max.max(1),
            self.config.append_bytes_max,
        );
        assert!(!entries.is_empty(), "a non-empty window sends entries");
        let sent_last = prev_index + entries.len() as u64;
        let message = self.append_message(LogId::new(prev_term, prev_index), entries);
        let now = self.now;
        let pr = self
            .leader_mut()
            .progress
            .get_mut(&peer)
            .expect("checked above");
        if pr.inflight.is_empty() {
            pr.last_progress_at = now; // the loss timer starts with the first batch
        }
        pr.next_index = sent_last + 1;
        pr.inflight.push_back(sent_last);
        ctx.send(peer, message);
        true
    }

    fn append_message(&self, prev: LogId, entries: Vec<Entry>) -> Message {
        Message::AppendEntries {
            term: self.term,
            prev,
            entries,
            leader_commit: self.commit_index,
            read_seq: self.leader_ref().reads.sent_seq(),
        }
    }

    /// An empty AppendEntries at a known-good position, or the next batch.
    pub(crate) fn heartbeat(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        let now = self.now;
        let stale = self.config.election_timeout_min();
        let Some(pr) = self.leader_mut().progress.get_mut(&peer) else {
            return;
        };
        if let ProgressState::Snapshot { .. } = pr.state {
            if now >= pr.last_sent_at + stale {
                self.send_snapshot_chunk(ctx, peer);
            }
            return;
        }
        if !pr.inflight.is_empty() && now >= pr.last_progress_at + stale {
            pr.reset_to_probe(now); // the batches in flight were lost
        }
        if pr.inflight.is_empty() && self.send_append(ctx, peer) {
            return;
        }
        // Probe the next position only when nothing is in flight; otherwise
        // heartbeat at the known match so the follower does not reject it.
        let pr = &self.leader_ref().progress[&peer];
        let probing = pr.state == ProgressState::Probe && pr.inflight.is_empty();
        let (first, second) = if probing {
            (pr.next_index - 1, pr.match_index)
        } else {
            (pr.match_index, pr.next_index - 1)
        };
        let prev = [first, second]
            .into_iter()
            .find_map(|i| self.log.term_at(i).map(|t| LogId::new(t, i)));
        match prev {
            Some(prev) => {
                let message = self.append_message(prev, Vec::new());
                ctx.send(peer, message);
            }
            None => self.start_snapshot(ctx, peer),
        }
    }

    pub(crate) fn on_heartbeat_timer(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.is_leader() {
            return;
        }
        if !self.check_quorum(ctx) {
            return;
        }
        self.expire_transfer();
        if self.config.lease_read {
            self.start_read_round_if_idle();
        }
        let peers: Vec<NodeId> = self.leader_ref().progress.keys().copied().collect();
        for peer in peers {
            self.heartbeat(ctx, peer);
        }
        ctx.set_timer(TIMER_HEARTBEAT, self.config.heartbeat_interval());
    }

    /// Steps down if a majority was not heard from in the last period.
    /// Returns whether this node is still leader.
    fn check_quorum(&mut self, ctx: &mut Context<'_, Self>) -> bool {
        if !self.config.check_quorum || self.now < self.leader_ref().check_quorum_at {
            return true;
        }
        let next = self.now + self.config.election_timeout_max();
        let id = self.id;
        let state = self.leader_mut();
        state.check_quorum_at = next;
        let mut active = BTreeSet::from([id]);
        for (&peer, pr) in state.progress.iter_mut() {
            if std::mem::take(&mut pr.recent_active) {
                active.insert(peer);
            }
        }
        if self.membership().has_quorum(&active) {
            return true;
        }
        self.become_follower(ctx, self.term, None);
        false
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_append_response(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        success: bool,
        match_index: u64,
        rejected_prev: u64,
        hint: Option<ConflictHint>,
        read_seq: u64,
    ) {
        if !self.is_leader() || match_index > self.log.last_index() {
            return;
        }
        let now = self.now;
        let Some(pr) = self.leader_mut().progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.read_seq_acked = pr.read_seq_acked.max(read_seq);
        if success {
            if match_index > pr.match_index {
                // Only progress counts: heartbeat acks alone must not hide
                // lost batches (see `heartbeat`).
                pr.last_progress_at = now;
                pr.match_index = match_index;
                pr.next_index = pr.next_index.max(match_index + 1);
                pr.inflight.retain(|&last| last > match_index);
                if pr.state == ProgressState::Probe {
                    pr.state = ProgressState::Replicate;
                }
                self.maybe_commit(ctx);
                self.maybe_send_timeout_now(ctx, from);
                self.maybe_auto_promote(ctx);
            }
        } else if let ProgressState::Snapshot { .. } = pr.state {
            // A late rejection from before the snapshot started.
        } else if rejected_prev >= pr.match_index.max(1) && rejected_prev < pr.next_index {
            let next = self.backtrack(rejected_prev, hint);
            let pr = self.leader_mut().progress.get_mut(&from).expect("present");
            pr.reset_to_probe(now);
            pr.next_index = next.max(pr.match_index + 1);
        }
        self.confirm_reads(ctx);
        if self.is_leader() {
            self.send_append(ctx, from);
        }
    }

    /// Where to retry after `prev` was rejected (thesis §5.3, etcd's
    /// findConflictByTerm): skip the follower's whole conflicting term.
    fn backtrack(&self, rejected_prev: u64, hint: Option<ConflictHint>) -> u64 {
        let next = match hint {
            Some(ConflictHint {
                term: Some(term),
                index,
            }) => self
                .log
                .last_index_of_term(term)
                .map_or(index, |last| last + 1),
            Some(ConflictHint { term: None, index }) => index,
            None => rejected_prev,
        };
        next.clamp(1, rejected_prev)
    }
}
