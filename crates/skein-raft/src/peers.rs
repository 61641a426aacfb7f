//! Keeps the driver's peer set in step with the membership, so nodes added
//! at run time are dialled and removed ones are let go.
//!
//! ```text
//!  configuration appended / truncated / committed / snapshot installed / Start
//!        │
//!        ▼
//!  wanted = members of the latest configuration ∪ of the committed one
//!        ├─▶ AddPeer { id, address }  for a wanted id whose address is known
//!        │                             and not yet announced with that address
//!        └─▶ RemovePeer { id }         for an announced id no longer wanted
//! ```
//!
//! The committed configuration stays wanted until a change commits: a
//! removal that is truncated must not leave the node without a way to dial
//! the member it would have removed. Members without a known address (those
//! started together, found by the driver from `--peers`) are announced as
//! "wanted, address unknown": nothing is emitted for them, but if they leave
//! the membership they are removed like any other.
//!
//! The driver's peer set is forgotten on restart, so `Start` announces every
//! wanted address again from the persisted configuration; static peers that
//! left the membership before the restart are removed then too.

use crate::raft::Raft;
use skein_core::{Context, NodeId, PeerAddress};
use std::collections::BTreeMap;

/// What the driver was last told: each peer this node wants, with the
/// address announced for it (`None`: left to the driver's static peers).
pub(crate) type Announced = BTreeMap<NodeId, Option<PeerAddress>>;

/// Identifies the configurations `sync_peers` last looked at: latest config
/// index and its entry's term (a truncated and rewritten config entry at the
/// same index has a newer term), and the committed config's index.
pub(crate) type PeersKey = (u64, Option<u64>, u64);

impl Raft {
    fn peers_key(&self) -> PeersKey {
        let latest = self.memberships.latest_index();
        (
            latest,
            self.log.term_at(latest),
            self.memberships.index_at(self.commit_index),
        )
    }

    /// The peers this node wants now, with their addresses where known.
    fn wanted_peers(&self) -> Announced {
        let committed = self.memberships.at(self.commit_index);
        let latest = self.memberships.latest();
        let mut wanted = Announced::new();
        // The latest configuration's address wins where both name one.
        for membership in [committed, latest] {
            let ids = membership.voters.iter().chain(&membership.learners);
            for &id in ids.filter(|&&id| id != self.id) {
                let slot = wanted.entry(id).or_default();
                if let Some(address) = membership.addresses.get(&id) {
                    *slot = Some(address.clone());
                }
            }
        }
        wanted
    }

    /// Emits the peer changes since the last call, if any configuration moved.
    pub(crate) fn sync_peers(&mut self, ctx: &mut Context<'_, Self>, force: bool) {
        let key = self.peers_key();
        if !force && self.peers_synced == Some(key) {
            return;
        }
        self.peers_synced = Some(key);
        let wanted = self.wanted_peers();
        for (&id, address) in &wanted {
            let Some(address) = address else { continue };
            if self.announced.get(&id) != Some(&Some(address.clone())) {
                ctx.add_peer(id, address.clone());
            }
        }
        for &id in self.announced.keys() {
            if !wanted.contains_key(&id) {
                ctx.remove_peer(id);
            }
        }
        self.announced = wanted;
        debug_assert!(!self.announced.contains_key(&self.id), "never its own peer");
    }

    /// What a node assumes the driver holds right after boot: its static
    /// members, but only once it knows a configuration to compare them with
    /// (a node waiting to join keeps its `--peers`, they are its way in).
    pub(crate) fn boot_announced(id: NodeId, members: &[NodeId], known_config: bool) -> Announced {
        if !known_config {
            return Announced::new();
        }
        members
            .iter()
            .filter(|&&m| m != id)
            .map(|&m| (m, None))
            .collect()
    }
}
