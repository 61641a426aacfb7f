//! Gossip at scale (hundreds to thousands of nodes) on the lean network
//! ([`crate::lean`]). Every node starts from a snapshot holding the full membership
//! (as if the whole overlay had restarted), so runs measure broadcast and
//! failure detection, not the join of a thousand nodes.
//!
//! At 10,000 nodes full views would be 10⁸ member records; runs that large
//! use [`ScaleNet::with_view`] (each node boots knowing a random subset).

pub use crate::lean::NetModel;
use crate::lean::{address, node_id, LeanNet};
use rand::seq::IteratorRandom;
use skein_core::{Boot, NodeId, Protocol};
use skein_gossip::identity::Identity;
use skein_gossip::message::{Fact, Update};
use skein_gossip::storage::Snapshot;
use skein_gossip::{Gossip, GossipConfig, GossipMessage, GossipReply, GossipRequest, MessageId};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// N gossip cores on the lean network: a [`LeanNet`] (which it derefs to)
/// plus how gossip nodes boot and broadcast.
pub struct ScaleNet {
    net: LeanNet<Gossip>,
}

impl Deref for ScaleNet {
    type Target = LeanNet<Gossip>;
    fn deref(&self) -> &LeanNet<Gossip> {
        &self.net
    }
}

impl DerefMut for ScaleNet {
    fn deref_mut(&mut self) -> &mut LeanNet<Gossip> {
        &mut self.net
    }
}

impl ScaleNet {
    /// Boots `n` nodes (ids 1..=n), each knowing all the others (as many
    /// as `members_max` allows).
    pub fn new(n: u16, config: &GossipConfig, net: NetModel, seed: u64) -> Self {
        Self::with_view(n, config, net, seed, config.members_max)
    }

    /// Boots `n` nodes, each knowing a random `view` of the others (all of
    /// them if `view >= n - 1`). A partial view keeps 10,000 nodes in a few
    /// GB: full views are N² member records. Membership then grows through
    /// syncs and piggybacked updates, as in a real overlay.
    pub fn with_view(n: u16, config: &GossipConfig, net: NetModel, seed: u64, view: usize) -> Self {
        assert!(view >= 1 && n >= 2, "a node knows at least one other");
        let tick = Duration::from_millis(config.tick_ms);
        // Runs never restart a node, so what a node writes is not kept: a
        // full view is N member records per node.
        let mut net =
            LeanNet::new(usize::from(n), net, tick, seed, GossipMessage::kind).discarding_writes();
        let identities: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut net.rng)).collect();
        let alive: Vec<Update> = identities
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let node = node_id(i);
                let fact = Fact::Alive {
                    key: id.public(),
                    address: address(node),
                    version: skein_gossip::GOSSIP_VERSION,
                    beacon: false,
                };
                // Incarnation 1: what each node uses after booting from a
                // snapshot of 0, so no one starts by announcing news.
                Update::signed(id, node, 1, fact, node)
            })
            .collect();
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let view = view.min(usize::from(n) - 1);
        for (i, identity) in identities.iter().enumerate() {
            let id = node_id(i);
            let known: Vec<usize> = (0..usize::from(n))
                .filter(|&j| j != i)
                .choose_multiple(&mut net.rng, view);
            let snapshot = Snapshot {
                secret: identity.secret(),
                incarnation: 0,
                boots: 0,
                members: known.iter().map(|&j| alive[j].clone()).collect(),
                bindings: known
                    .iter()
                    .map(|&j| (node_id(j), identities[j].public()))
                    .collect(),
                delivered_ids: Vec::new(),
                delivered_seq: 0,
                floors: Vec::new(),
            };
            let node = Gossip::boot(Boot {
                id,
                address: &address(id),
                members: &members,
                config,
                persisted: &[snapshot.encode()],
                now: Duration::ZERO,
                rng: &mut net.rng,
            });
            net.start(i, node);
        }
        Self { net }
    }

    /// Node `node` broadcasts `payload` now; returns the broadcast's id.
    pub fn broadcast(&mut self, node: usize, payload: &str) -> MessageId {
        let request = GossipRequest::Broadcast {
            payload: payload.into(),
        };
        let id = self.net.request(node, request);
        match self.net.replies.remove(&id) {
            Some(GossipReply::Broadcasted { id }) => {
                id.parse().expect("a broadcast id is a message id")
            }
            other => panic!("node {} refused a broadcast: {other:?}", node + 1),
        }
    }

    /// When each running node delivered `id` (virtual µs), `None` if it has not.
    pub fn delivery_times(&self, id: MessageId) -> Vec<Option<(u64, u16)>> {
        self.running()
            .map(|(_, n)| {
                n.plumtree()
                    .find(id)
                    .map(|s| (s.delivered_at.as_micros() as u64, s.hops))
            })
            .collect()
    }
}

/// Messages that carry or repair broadcasts (Plumtree's own traffic).
pub const BROADCAST_KINDS: [&str; 4] = ["gossip", "ihave", "graft", "prune"];
