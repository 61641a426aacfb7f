//! Commitment (Raft §5.3, §5.4.2 — the Figure 8 rule) and applying
//! committed entries, in order, to the key-value state machine.

use crate::message::{Entry, Payload};
use crate::raft::Raft;
use crate::request::Reply;
use skein_core::Context;

/// FNV-1a step, used for the applied-state digest.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The digest after applying `entry` on top of `digest`: equal digests at the
/// same applied index mean the same sequence of entries was applied.
pub fn digest_step(digest: u64, entry: &Entry) -> u64 {
    let body = postcard::to_stdvec(entry).expect("entries always encode");
    fnv(digest ^ 0xcbf2_9ce4_8422_2325, &body)
}

impl Raft {
    pub(crate) fn set_commit(&mut self, index: u64) {
        assert!(index >= self.commit_index, "commit index never decreases");
        assert!(
            index <= self.log.last_index(),
            "only entries in the log commit"
        );
        self.commit_index = index;
    }

    /// Leader: advance the commit index to the highest index stored durably by
    /// a majority of voters, if that entry is of the current term (Figure 8).
    pub(crate) fn maybe_commit(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.is_leader() {
            return;
        }
        let membership = self.membership();
        let state = self.leader_ref();
        let mut matched: Vec<u64> = membership
            .voters
            .iter()
            .map(|&v| {
                if v == self.id {
                    self.durability.durable_index()
                } else {
                    state.progress.get(&v).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        if matched.is_empty() {
            return;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[membership.quorum() - 1];
        if candidate <= self.commit_index || self.log.term_at(candidate) != Some(self.term) {
            return; // an older term's entry commits only under a current-term one
        }
        let first_commit_in_term = !self.committed_in_term();
        self.set_commit(candidate);
        if first_commit_in_term {
            let commit = self.commit_index;
            self.leader_mut().reads.term_committed(commit);
        }
        self.apply_committed(ctx);
        if self.is_leader() {
            self.broadcast_append(ctx);
        }
    }

    /// Applies every committed entry not yet applied, answering the clients
    /// that proposed them.
    pub(crate) fn apply_committed(&mut self, ctx: &mut Context<'_, Self>) {
        while self.applied_index < self.commit_index {
            let index = self.applied_index + 1;
            let entry = self
                .log
                .entry(index)
                .expect("committed entries after the snapshot are in the log")
                .clone();
            let reply = match &entry.payload {
                Payload::Noop => None,
                Payload::Command(command) => Some(self.kv.apply(index, command)),
                Payload::Config(membership) => Some(Reply::Membership {
                    membership: membership.clone(),
                    index,
                }),
            };
            self.applied_digest = digest_step(self.applied_digest, &entry);
            self.applied_index = index;
            if let Some(state) = self.leader_state.as_mut() {
                if let Some(id) = state.proposals.remove(&index) {
                    ctx.reply(id, reply.unwrap_or(Reply::Written { revision: index }));
                }
            }
        }
        let removed = !self.membership().contains(self.id);
        if self.is_leader() && removed && self.membership_index_committed() {
            // Thesis §4.2.2: a removed leader steps down once the change commits.
            self.become_follower(ctx, self.term, None);
        }
        if self.is_leader() {
            self.serve_reads(ctx);
            self.maybe_auto_promote(ctx);
        }
        self.maybe_snapshot(ctx);
    }

    pub(crate) fn membership_index_committed(&self) -> bool {
        self.memberships.latest_index() <= self.commit_index
    }
}
