//! The dht at scale (16 to 10,000 nodes) on the lean network
//! ([`crate::lean`]): how dht nodes boot there, and what the measurements
//! read of the ring.
//!
//! Two ways to build a ring (say which in every figure):
//! * [`StartMode::Joined`]: node 1 starts the ring, the others join through
//!   it one after another, and stabilize / fix-fingers converge;
//! * [`StartMode::Converged`]: every node boots from a persisted snapshot
//!   (the core's own restart path, `skein_dht::persist`) holding what a
//!   stabilized ring converges to — predecessor, r successors and every
//!   finger, computed from the membership — as if the whole ring had
//!   restarted. No join traffic, so 10,000 nodes start in seconds.
//!
//! Each node is configured with node 1 as its join node and its only other
//! static member (like `--join` in the runtime), so a per-node member list
//! does not cost N² memory.
//!
//! Deterministic: one seed decides boot order and, through the lean
//! network, everything else.

use crate::lean::{address, node_id, LeanNet, NetModel};
use skein_core::{Boot, NodeId, Protocol};
use skein_dht::persist::{SavedRouting, Snapshot};
use skein_dht::ring::RING_BITS;
use skein_dht::{Dht, DhtConfig, NodeRef, RingId, Routing};
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// How the ring is built; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    Joined,
    Converged,
}

impl StartMode {
    pub fn name(self) -> &'static str {
        match self {
            StartMode::Joined => "joined",
            StartMode::Converged => "snapshot",
        }
    }
}

/// N dht cores on the lean network: a [`LeanNet`] (which it derefs to)
/// plus how dht nodes boot and the ring checks.
pub struct DhtScaleNet {
    net: LeanNet<Dht>,
    cfg: DhtConfig,
    /// Joins still to come, in time order: (virtual µs, node).
    boots: VecDeque<(u64, usize)>,
}

impl Deref for DhtScaleNet {
    type Target = LeanNet<Dht>;
    fn deref(&self) -> &LeanNet<Dht> {
        &self.net
    }
}

impl DerefMut for DhtScaleNet {
    fn deref_mut(&mut self) -> &mut LeanNet<Dht> {
        &mut self.net
    }
}

fn node_ref(i: usize) -> NodeRef {
    let id = node_id(i);
    NodeRef::new(id, address(id))
}

/// The settings every scale run uses: node 1 is the join node.
pub fn config() -> DhtConfig {
    DhtConfig {
        join: Some(address(NodeId(1))),
        ..DhtConfig::default()
    }
}

impl DhtScaleNet {
    /// `n` nodes (ids 1..=n). `Joined`: node k boots `join_gap_us` after
    /// node k-1. `Converged`: all boot at time 0 from snapshots.
    pub fn new(
        n: u16,
        cfg: DhtConfig,
        mode: StartMode,
        join_gap_us: u64,
        net: NetModel,
        seed: u64,
    ) -> Self {
        assert!(n >= 1);
        let count = usize::from(n);
        let tick = Duration::from_millis(cfg.tick_ms);
        let mut this = Self {
            net: LeanNet::new(count, net, tick, seed, |_| "dht"),
            cfg,
            boots: VecDeque::new(),
        };
        match mode {
            StartMode::Joined => {
                this.boots = (0..count).map(|i| (i as u64 * join_gap_us, i)).collect();
                this.run_until(0);
            }
            StartMode::Converged => {
                let members: Vec<usize> = (0..count).collect();
                for (i, snapshot) in converged_snapshots(&members, &this.cfg) {
                    this.net.disks[i] = vec![snapshot.encode()];
                }
                for i in 0..count {
                    this.boot(i);
                }
            }
        }
        this
    }

    /// Adds a node that joins through node 1 now; returns its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.net.add_slot();
        self.boot(i);
        i
    }

    fn boot(&mut self, i: usize) {
        let id = node_id(i);
        let mut members = vec![NodeId(1), id];
        members.sort();
        members.dedup();
        let now = self.net.now();
        let dht = Dht::boot(Boot {
            id,
            address: &address(id),
            members: &members,
            config: &self.cfg,
            persisted: &self.net.disks[i],
            now,
            rng: &mut self.net.rng,
        });
        self.net.start(i, dht);
    }

    /// A restart from the node's disk.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {} is running", i + 1);
        self.boot(i);
    }

    /// Runs until virtual time `until_us`, booting the joins due by then.
    pub fn run_until(&mut self, until_us: u64) {
        while let Some(&(at, i)) = self.boots.front() {
            if at > until_us {
                break;
            }
            self.boots.pop_front();
            self.net.run_until(at);
            self.boot(i);
        }
        self.net.run_until(until_us);
    }

    /// Running members in ring order.
    pub fn ring(&self) -> Vec<NodeRef> {
        let mut ring: Vec<NodeRef> = self
            .running()
            .filter(|(_, d)| d.is_member())
            .map(|(_, d)| d.me().clone())
            .collect();
        ring.sort_by_key(|n| n.ring);
        ring
    }

    /// Whether every running member's successor and predecessor are the
    /// true ones.
    pub fn ring_is_correct(&self) -> bool {
        let ring = self.ring();
        let members = ring.len();
        if members != self.running().count() {
            return false;
        }
        ring.iter().enumerate().all(|(k, n)| {
            let dht = self.nodes[usize::from(n.id.0) - 1].as_ref().unwrap();
            let next = &ring[(k + 1) % members];
            let prev = &ring[(k + members - 1) % members];
            let succ_ok = members == 1 || dht.routing().successor().id == next.id;
            let pred_ok = members == 1
                || dht
                    .routing()
                    .predecessor
                    .as_ref()
                    .is_some_and(|p| p.id == prev.id);
            succ_ok && pred_ok
        })
    }

    /// The fraction of finger entries that are the true first node at or
    /// after their start (entries that should be the node itself left out).
    pub fn fingers_correct(&self) -> f64 {
        let ring = self.ring();
        let (mut right, mut all) = (0u64, 0u64);
        for n in &ring {
            let dht = self.nodes[usize::from(n.id.0) - 1].as_ref().unwrap();
            for (i, f) in dht.routing().fingers.iter().enumerate() {
                let truth = successor_of(&ring, n.ring.add_pow2(i));
                if truth.id == n.id {
                    continue;
                }
                all += 1;
                right += u64::from(f.as_ref().is_some_and(|f| f.id == truth.id));
            }
        }
        if all == 0 {
            1.0
        } else {
            right as f64 / all as f64
        }
    }
}

/// The first node of `ring` (sorted by ring id) at or after `point`.
pub fn successor_of(ring: &[NodeRef], point: RingId) -> &NodeRef {
    let k = ring.partition_point(|n| n.ring < point);
    &ring[k % ring.len()]
}

/// What stabilize and fix-fingers converge to on a ring of `members`
/// (indices), as one snapshot per member.
pub fn converged_snapshots(members: &[usize], cfg: &DhtConfig) -> Vec<(usize, Snapshot)> {
    let mut ring: Vec<NodeRef> = members.iter().map(|&i| node_ref(i)).collect();
    ring.sort_by_key(|n| n.ring);
    let r = usize::from(cfg.replicas);
    let n = ring.len();
    ring.iter()
        .enumerate()
        .map(|(k, me)| {
            let mut routing = Routing::new(me.clone(), r);
            if n > 1 {
                routing.predecessor = Some(ring[(k + n - 1) % n].clone());
                routing.successors = (1..n.min(r + 1))
                    .map(|d| ring[(k + d) % n].clone())
                    .collect();
                for i in 0..RING_BITS {
                    let f = successor_of(&ring, me.ring.add_pow2(i));
                    if f.id != me.id {
                        routing.fingers[i] = Some(f.clone());
                    }
                }
            }
            let snapshot = Snapshot {
                routing: SavedRouting::of(&routing),
                ..Snapshot::default()
            };
            (usize::from(me.id.0) - 1, snapshot)
        })
        .collect()
}
