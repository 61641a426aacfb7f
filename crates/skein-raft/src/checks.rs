//! Cross-node safety checks (Raft Figure 3), for the in-crate harness and
//! for skein-sim. Each returns `Err(description)` on a violation.
//!
//! The stateless functions judge the nodes as they are now; [`History`]
//! remembers leaders, committed entries and digests across steps, crashes
//! and restarts, so it also catches violations spread over time.

use crate::raft::{Raft, Role};
use skein_core::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// Election safety: at most one leader per term among these nodes.
pub fn election_safety(nodes: &[&Raft]) -> Result<(), String> {
    let mut leaders = BTreeMap::new();
    for node in nodes.iter().filter(|n| n.role() == Role::Leader) {
        if let Some(other) = leaders.insert(node.term(), node.id()) {
            return Err(format!(
                "two leaders in term {}: {other} and {}",
                node.term(),
                node.id()
            ));
        }
    }
    Ok(())
}

/// Log matching: if two logs hold an entry with the same index and term,
/// the logs are identical up to that index (where both still hold entries).
pub fn log_matching(nodes: &[&Raft]) -> Result<(), String> {
    for (k, a) in nodes.iter().enumerate() {
        for b in &nodes[k + 1..] {
            let (la, lb) = (a.log_view(), b.log_view());
            let high = la.last_index().min(lb.last_index());
            let Some(anchor) = (1..=high)
                .rev()
                .find(|&i| la.term_at(i).is_some() && la.term_at(i) == lb.term_at(i))
            else {
                continue;
            };
            for i in 1..=anchor {
                if let (Some(x), Some(y)) = (la.entry(i), lb.entry(i)) {
                    if x != y {
                        return Err(format!(
                            "log matching: nodes {} and {} agree at {anchor} but differ at {i}: {x:?} vs {y:?}",
                            a.id(),
                            b.id()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// State machine safety, now: nodes at the same applied index applied the
/// same entries.
pub fn state_machine_safety(nodes: &[&Raft]) -> Result<(), String> {
    let mut seen: BTreeMap<u64, (NodeId, u64)> = BTreeMap::new();
    for node in nodes {
        let (index, digest) = node.applied_state_digest();
        if let Some(&(other, d)) = seen.get(&index) {
            if d != digest {
                return Err(format!(
                    "nodes {other} and {} applied different entries up to {index}",
                    node.id()
                ));
            }
        }
        seen.insert(index, (node.id(), digest));
    }
    Ok(())
}

/// Everything the stateless checks cover, plus history across steps.
#[derive(Debug, Default)]
pub struct History {
    leaders: BTreeMap<u64, NodeId>,
    /// Committed index → term, as first seen committed on any node.
    committed: BTreeMap<u64, u64>,
    /// Index -> the term of the node that first showed the entry committed:
    /// an upper bound on the term in which it was committed.
    committed_in: BTreeMap<u64, u64>,
    digests: BTreeMap<u64, u64>,
    /// Per node: committed entries up to here were already checked.
    checked: BTreeMap<NodeId, u64>,
    /// Terms whose leader was checked for leader completeness.
    complete_terms: BTreeSet<u64>,
}

impl History {
    /// Checks the live nodes; call after every step.
    pub fn observe(&mut self, nodes: &[&Raft]) -> Result<(), String> {
        election_safety(nodes)?;
        log_matching(nodes)?;
        state_machine_safety(nodes)?;
        for node in nodes {
            self.observe_node(node)?;
        }
        Ok(())
    }

    /// How many committed entries the history knows.
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    fn observe_node(&mut self, node: &Raft) -> Result<(), String> {
        let id = node.id();
        if node.role() == Role::Leader {
            if let Some(&other) = self.leaders.get(&node.term()).filter(|&&l| l != id) {
                return Err(format!(
                    "election safety: {other} and {id} both led term {}",
                    node.term()
                ));
            }
            self.leaders.insert(node.term(), id);
            if self.complete_terms.insert(node.term()) {
                self.leader_completeness(node)?;
            }
        }
        let (applied, digest) = node.applied_state_digest();
        if *self.digests.entry(applied).or_insert(digest) != digest {
            return Err(format!(
                "state machine safety: node {id} applied different entries up to {applied}"
            ));
        }
        let log = node.log_view();
        let checked = self.checked.get(&id).copied().unwrap_or(0);
        let from = if checked > node.commit_index() {
            0
        } else {
            checked
        };
        for index in from.max(log.snapshot_last().index) + 1..=node.commit_index() {
            let term = log
                .term_at(index)
                .expect("committed entries after the snapshot exist");
            self.committed_in.entry(index).or_insert(node.term());
            if *self.committed.entry(index).or_insert(term) != term {
                return Err(format!(
                    "committed entry {index} on node {id} has term {term}, was {}",
                    self.committed[&index]
                ));
            }
        }
        self.checked.insert(id, node.commit_index());
        Ok(())
    }

    /// Leader completeness (Raft §5.4): a leader of term T holds every entry
    /// committed in a term before T. A leader of an older term can still
    /// show up after later commits (a late vote reply elects it); it is
    /// stale, cannot commit, and owes nothing committed in its term or later.
    fn leader_completeness(&self, leader: &Raft) -> Result<(), String> {
        let log = leader.log_view();
        let earlier = |index: &u64| {
            self.committed_in
                .get(index)
                .is_some_and(|&t| t < leader.term())
        };
        for (&index, &term) in self
            .committed
            .range(log.snapshot_last().index + 1..)
            .filter(|(i, _)| earlier(i))
        {
            if log.term_at(index) != Some(term) {
                return Err(format!(
                    "leader completeness: leader {} of term {} lacks committed entry {index} (term {term})",
                    leader.id(),
                    leader.term()
                ));
            }
        }
        Ok(())
    }
}
