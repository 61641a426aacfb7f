//! Cluster membership: voters and learners, and which configuration is in
//! force at each log index.
//!
//! Changes go one server at a time (thesis §4.1): a new configuration takes
//! effect on each server as soon as it is in its log, and a leader proposes
//! the next change only once the previous one is committed and it has
//! committed an entry of its own term (the fix from the raft-dev list, 2015).

use serde::{Deserialize, Serialize};
use skein_core::{NodeId, PeerAddress};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub voters: BTreeSet<NodeId>,
    /// Non-voting members: they receive the log but are not counted in quorums.
    pub learners: BTreeSet<NodeId>,
    /// Where members can be reached, for those whose address is known: nodes
    /// added at run time (the request names it) and the leader that proposed
    /// the change. Members started together find each other from `--peers`
    /// and may have none. Replicated and persisted with the configuration,
    /// so every member, and a member that restarts, can dial the others
    /// (see `peers.rs`).
    pub addresses: BTreeMap<NodeId, PeerAddress>,
}

impl Membership {
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Self {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
            addresses: BTreeMap::new(),
        }
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Votes or acknowledgements needed: a strict majority of voters.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn has_quorum(&self, ids: &BTreeSet<NodeId>) -> bool {
        self.voters.intersection(ids).count() >= self.quorum()
    }

    /// Forgets `id` as a member, its address included.
    pub fn remove(&mut self, id: NodeId) {
        self.voters.remove(&id);
        self.learners.remove(&id);
        self.addresses.remove(&id);
    }

    /// Everyone the leader replicates to.
    pub fn peers(&self, me: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.voters
            .iter()
            .chain(self.learners.iter())
            .copied()
            .filter(move |&id| id != me)
    }
}

/// The membership at the snapshot, plus every configuration entry after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipLog {
    base_index: u64,
    base: Membership,
    changes: BTreeMap<u64, Membership>,
}

impl MembershipLog {
    pub fn new(base_index: u64, base: Membership) -> Self {
        Self {
            base_index,
            base,
            changes: BTreeMap::new(),
        }
    }

    /// The configuration in force: the latest in the log, committed or not.
    pub fn latest(&self) -> &Membership {
        self.changes.values().next_back().unwrap_or(&self.base)
    }

    /// Index of the entry that set the configuration in force at `index`.
    pub fn index_at(&self, index: u64) -> u64 {
        self.changes
            .range(..=index)
            .next_back()
            .map_or(self.base_index, |(&at, _)| at)
    }

    /// Index of the entry that set the latest configuration.
    pub fn latest_index(&self) -> u64 {
        self.changes
            .keys()
            .next_back()
            .copied()
            .unwrap_or(self.base_index)
    }

    /// The configuration in force at `index`.
    pub fn at(&self, index: u64) -> &Membership {
        self.changes
            .range(..=index)
            .next_back()
            .map_or(&self.base, |(_, m)| m)
    }

    pub fn push(&mut self, index: u64, membership: Membership) {
        assert!(
            index > self.latest_index(),
            "configurations are appended in log order"
        );
        self.changes.insert(index, membership);
    }

    /// Forgets configurations from `index` on (their entries were truncated).
    pub fn truncate_from(&mut self, index: u64) {
        self.changes.split_off(&index);
    }

    /// The log was compacted up to `index`: fold older changes into the base.
    pub fn compact_to(&mut self, index: u64) {
        let base = self.at(index).clone();
        self.changes = self.changes.split_off(&(index + 1));
        self.base = base;
        self.base_index = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_at_truncate_and_compact() {
        let mut log = MembershipLog::new(0, Membership::with_voters([NodeId(1)]));
        log.push(5, Membership::with_voters([NodeId(1), NodeId(2)]));
        log.push(9, Membership::with_voters([NodeId(2)]));
        assert_eq!(log.at(7).voters.len(), 2);
        assert_eq!(log.latest_index(), 9);
        log.truncate_from(9);
        assert_eq!(log.latest_index(), 5);
        log.compact_to(6);
        assert_eq!(
            log.latest(),
            &Membership::with_voters([NodeId(1), NodeId(2)])
        );
        assert_eq!(log.latest_index(), 6);
        assert_eq!(log.latest().quorum(), 2);
    }
}
