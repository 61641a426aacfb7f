//! What `GET /api/v1/status` shows of a dht node, its counters, and the
//! node-local invariants checked after every step.

use crate::message::NodeRef;
use crate::node::{Dht, NodeState};
use crate::request::{FingerRun, RoutingView, SizeEstimate};
use serde::Serialize;

/// Hop counts up to this are counted one by one; longer ones share the last bucket.
pub const HOPS_HISTOGRAM_BUCKETS: usize = 33;

#[derive(Clone, Debug, Serialize)]
pub struct Counters {
    pub lookups_done: u64,
    pub lookups_failed: u64,
    /// `hops_histogram[h]`: lookups that took h hops.
    pub hops_histogram: Vec<u64>,
    pub rpc_timeouts: u64,
    pub nodes_forgotten: u64,
    pub messages_rejected: u64,
    pub messages_ignored: u64,
    pub items_pushed: u64,
    pub items_received: u64,
    pub items_refused_full: u64,
    pub joins: u64,
    pub leaves: u64,
    /// Copies dropped after handing them to the key's current replicas.
    pub copies_dropped: u64,
    pub tombstones_dropped: u64,
    pub gc_rounds_abandoned: u64,
    pub snapshots_written: u64,
    /// Snapshots over `persist::SNAPSHOT_BYTES_MAX`, not written.
    pub snapshots_skipped: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            lookups_done: 0,
            lookups_failed: 0,
            hops_histogram: vec![0; HOPS_HISTOGRAM_BUCKETS],
            rpc_timeouts: 0,
            nodes_forgotten: 0,
            messages_rejected: 0,
            messages_ignored: 0,
            items_pushed: 0,
            items_received: 0,
            items_refused_full: 0,
            joins: 0,
            leaves: 0,
            copies_dropped: 0,
            tombstones_dropped: 0,
            gc_rounds_abandoned: 0,
            snapshots_written: 0,
            snapshots_skipped: 0,
        }
    }
}

impl Counters {
    pub(crate) fn lookup_done(&mut self, hops: u32) {
        self.lookups_done += 1;
        let bucket = (hops as usize).min(HOPS_HISTOGRAM_BUCKETS - 1);
        self.hops_histogram[bucket] += 1;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DhtStatus {
    pub node: NodeRef,
    pub state: String,
    pub predecessor: Option<NodeRef>,
    pub successors: Vec<NodeRef>,
    pub fingers: Vec<FingerRun>,
    /// Keys with a value in this node's network store (replicas included).
    pub keys: usize,
    /// Deleted keys kept as tombstones.
    pub tombstones: usize,
    pub local_keys: usize,
    pub size_estimate: SizeEstimate,
    pub lookups_pending: usize,
    pub ops_pending: usize,
    pub peers_added: usize,
    pub counters: Counters,
}

impl DhtStatus {
    pub fn of(dht: &Dht) -> Self {
        let keys = dht.network.live_len();
        Self {
            node: dht.routing.me.clone(),
            state: state_name(&dht.state).into(),
            predecessor: dht.routing.predecessor.clone(),
            successors: dht.routing.successors.clone(),
            fingers: dht.routing.finger_runs(),
            keys,
            tombstones: dht.network.len() - keys,
            local_keys: dht.local.len(),
            size_estimate: dht.routing.size_estimate(),
            lookups_pending: dht.lookups.len(),
            ops_pending: dht.ops.len(),
            peers_added: dht.peers_added(),
            counters: dht.counters.clone(),
        }
    }
}

pub fn state_name(state: &NodeState) -> &'static str {
    match state {
        NodeState::Joining { .. } => "joining",
        NodeState::Member => "member",
        NodeState::Left => "left",
    }
}

impl Dht {
    pub fn routing_view(&self) -> RoutingView {
        RoutingView {
            node: self.routing.me.clone(),
            state: state_name(&self.state).into(),
            predecessor: self.routing.predecessor.clone(),
            successors: self.routing.successors.clone(),
            fingers: self.routing.finger_runs(),
        }
    }

    /// What must hold after every step, whatever peers said.
    pub(crate) fn check_invariants(&self) {
        let me = self.routing.me.id;
        let succ = &self.routing.successors;
        assert!(
            succ.len() <= self.routing.successors_max(),
            "successor list bounded"
        );
        assert!(
            succ.iter().all(|n| n.id != me),
            "a node is not its own successor"
        );
        assert!(
            succ.iter()
                .enumerate()
                .all(|(i, n)| succ[..i].iter().all(|m| m.id != n.id)),
            "successors are distinct"
        );
        assert!(
            self.ops.len() <= self.cfg.pending_ops_max,
            "client ops bounded"
        );
        assert!(
            self.lookups.len() <= self.cfg.pending_ops_max + 3,
            "lookups: one per op, one finger, one join, one gc"
        );
        assert!(self.network.len() <= self.cfg.keys_max, "store bounded");
        assert!(self.local.len() <= self.cfg.keys_max, "local store bounded");
        assert!(
            self.durable_replies.len() <= self.cfg.pending_ops_max,
            "replies waiting for the disk bounded"
        );
    }
}
