//! Follower side of log replication (Raft §5.3): the consistency check,
//! conflict truncation with backtracking hints, durable acknowledgements.
//!
//! A follower reports as matching only entries that are both verified
//! against the current leader and durable, so a leader never counts an
//! entry a crash could take back (Figure 2: persist before responding).

use crate::message::{ConflictHint, Entry, LogId, Message, Payload};
use crate::raft::{Raft, Role};
use crate::storage::Record;
use skein_core::{Context, NodeId};

impl Raft {
    /// Accepts `from` as the leader of the current term.
    pub(crate) fn accept_leader(&mut self, ctx: &mut Context<'_, Self>, from: NodeId) {
        assert!(
            self.leader.is_none_or(|l| l == from) || self.role != Role::Follower,
            "election safety: two leaders ({:?} and {from}) in term {}",
            self.leader,
            self.term
        );
        assert!(
            !self.is_leader(),
            "election safety: another leader in my term {}",
            self.term
        );
        if self.role != Role::Follower {
            self.become_follower(ctx, self.term, Some(from));
        }
        self.leader = Some(from);
        self.election.last_leader_contact = Some(self.now);
        self.reset_election_deadline(ctx);
    }

    pub(crate) fn on_append_entries(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        prev: LogId,
        entries: Vec<Entry>,
        leader_commit: u64,
        read_seq: u64,
    ) {
        if !well_formed(prev, &entries, self.term) {
            return; // not from a correct leader: ignore, like a lost message
        }
        self.accept_leader(ctx, from);
        let snapshot_index = self.log.snapshot_last().index;
        if prev.index >= snapshot_index && self.log.term_at(prev.index) != Some(prev.term) {
            let hint = self.conflict_hint(prev.index);
            let reject = Message::AppendResponse {
                term: self.term,
                success: false,
                match_index: 0,
                rejected_prev: prev.index,
                hint: Some(hint),
                read_seq,
            };
            ctx.send(from, reject);
            return;
        }
        let last_new = entries.last().map_or(prev.index, |e| e.index);
        self.append_from_leader(ctx, entries);
        self.verified_index = self.verified_index.max(last_new);
        let commit = leader_commit.min(self.verified_index);
        if commit > self.commit_index {
            self.set_commit(commit);
            self.apply_committed(ctx);
        }
        let match_index = self.verified_index.min(self.durability.durable_index());
        self.acked_index = self.acked_index.max(match_index);
        let ack = Message::AppendResponse {
            term: self.term,
            success: true,
            match_index,
            rejected_prev: 0,
            hint: None,
            read_seq,
        };
        ctx.send(from, ack);
    }

    fn conflict_hint(&self, prev_index: u64) -> ConflictHint {
        if prev_index > self.log.last_index() {
            return ConflictHint {
                term: None,
                index: self.log.last_index() + 1,
            };
        }
        ConflictHint {
            term: self.log.term_at(prev_index),
            index: self.log.first_index_of_term_at(prev_index),
        }
    }

    /// Appends what is new in `entries`, truncating a conflicting suffix
    /// first (Figure 2, AppendEntries steps 3 and 4).
    fn append_from_leader(&mut self, ctx: &mut Context<'_, Self>, entries: Vec<Entry>) {
        let snapshot_index = self.log.snapshot_last().index;
        let mut fresh: Vec<Entry> = Vec::new();
        for entry in entries {
            if !fresh.is_empty() {
                fresh.push(entry);
                continue;
            }
            if entry.index <= snapshot_index {
                continue; // covered by the snapshot, hence committed and matching
            }
            match self.log.term_at(entry.index) {
                Some(term) if term == entry.term => {}
                Some(_) => {
                    assert!(
                        entry.index > self.commit_index,
                        "committed entry {} must never be truncated",
                        entry.index
                    );
                    self.log.truncate_from(entry.index);
                    self.memberships.truncate_from(entry.index);
                    self.durability.truncated_from(entry.index);
                    fresh.push(entry);
                }
                None => fresh.push(entry),
            }
        }
        if fresh.is_empty() {
            return;
        }
        for entry in &fresh {
            if let Payload::Config(m) = &entry.payload {
                self.memberships.push(entry.index, m.clone());
            }
            self.log.push(entry.clone());
        }
        self.persist(ctx, Record::Entries { entries: fresh });
    }

    /// Reports newly durable entries to the leader.
    pub(crate) fn ack_durable(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(leader) = self.leader.filter(|_| self.role == Role::Follower) else {
            return;
        };
        let match_index = self.verified_index.min(self.durability.durable_index());
        if match_index <= self.acked_index {
            return;
        }
        self.acked_index = match_index;
        let ack = Message::AppendResponse {
            term: self.term,
            success: true,
            match_index,
            rejected_prev: 0,
            hint: None,
            read_seq: 0,
        };
        ctx.send(leader, ack);
    }
}

/// Entries must follow `prev` contiguously, with terms that never decrease
/// and never exceed the leader's term.
fn well_formed(prev: LogId, entries: &[Entry], term: u64) -> bool {
    let mut last = prev;
    for entry in entries {
        if entry.index != last.index + 1 || entry.term < last.term || entry.term > term {
            return false;
        }
        last = entry.log_id();
    }
    prev.term <= term
}
