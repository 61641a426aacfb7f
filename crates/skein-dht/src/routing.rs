//! A node's view of the ring: predecessor, successor list and finger table,
//! and the one routing decision every lookup step makes ([`Routing::route`]).
//!
//! Pure data: the handlers in `maintenance.rs` keep it fresh.

use crate::message::NodeRef;
use crate::request::{FingerRun, SizeEstimate};
use crate::ring::{in_half_open, in_open, RingId, RING_BITS};
use skein_core::NodeId;
use std::collections::BTreeSet;

/// One routing decision for a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The responsible node first, then the nodes after it (for replicas).
    Found(Vec<NodeRef>),
    /// Ask this node, which is closer to the key.
    Closer(NodeRef),
}

#[derive(Clone, Debug)]
pub struct Routing {
    pub me: NodeRef,
    pub predecessor: Option<NodeRef>,
    /// Nearest first, without this node; empty means alone in the ring.
    pub successors: Vec<NodeRef>,
    /// `fingers[i]`: the first node at or after `me + 2^i` (Chord §4.3).
    pub fingers: Vec<Option<NodeRef>>,
    successors_max: usize,
}

impl Routing {
    pub fn new(me: NodeRef, successors_max: usize) -> Self {
        assert!(successors_max >= 1);
        Self {
            me,
            predecessor: None,
            successors: Vec::new(),
            fingers: vec![None; RING_BITS],
            successors_max,
        }
    }

    pub fn successors_max(&self) -> usize {
        self.successors_max
    }

    /// The immediate successor; this node itself when alone.
    pub fn successor(&self) -> &NodeRef {
        self.successors.first().unwrap_or(&self.me)
    }

    /// Whether this node is responsible for `key`, as far as it knows.
    pub fn owns(&self, key: RingId) -> bool {
        match &self.predecessor {
            Some(p) => in_half_open(p.ring, key, self.me.ring),
            None => self.successors.is_empty(),
        }
    }

    /// The next step of a lookup for `key`, never through a node in `avoid`.
    pub fn route(&self, key: RingId, avoid: &BTreeSet<NodeId>) -> Route {
        if self.owns(key) {
            let mut nodes = vec![self.me.clone()];
            nodes.extend(
                self.successors
                    .iter()
                    .take(self.successors_max - 1)
                    .cloned(),
            );
            return Route::Found(nodes);
        }
        let live: Vec<&NodeRef> = self
            .successors
            .iter()
            .filter(|s| !avoid.contains(&s.id))
            .collect();
        let Some(first) = live.first() else {
            return Route::Found(vec![self.me.clone()]);
        };
        if in_half_open(self.me.ring, key, first.ring) {
            return Route::Found(live.into_iter().cloned().collect());
        }
        match self.closest_preceding(key, avoid) {
            Some(node) => Route::Closer(node.clone()),
            None => Route::Found(live.into_iter().cloned().collect()),
        }
    }

    /// The known node closest before `key` (fingers and successors), Chord's
    /// `closest_preceding_node`.
    pub fn closest_preceding(&self, key: RingId, avoid: &BTreeSet<NodeId>) -> Option<&NodeRef> {
        let me = self.me.ring;
        self.fingers
            .iter()
            .flatten()
            .chain(self.successors.iter())
            .filter(|n| !avoid.contains(&n.id) && n.id != self.me.id)
            .filter(|n| in_open(me, n.ring, key))
            .max_by(|a, b| me.fraction_to(a.ring).total_cmp(&me.fraction_to(b.ring)))
    }

    /// Takes a successor list learned from `succ` (its own list): the ring
    /// continues `succ, list...`, cut at our length and at ourselves.
    pub fn adopt_successors(&mut self, succ: NodeRef, list: &[NodeRef]) {
        let mut next = vec![succ];
        for n in list {
            if n.id == self.me.id || next.iter().any(|m| m.id == n.id) {
                break;
            }
            next.push(n.clone());
        }
        next.truncate(self.successors_max);
        if next[0].id == self.me.id {
            next.clear();
        }
        self.successors = next;
    }

    /// Forgets a node that failed or left, wherever it appears.
    pub fn forget(&mut self, id: NodeId) -> bool {
        let before = self.successors.len();
        self.successors.retain(|n| n.id != id);
        let mut changed = before != self.successors.len();
        if self.predecessor.as_ref().is_some_and(|p| p.id == id) {
            self.predecessor = None;
            changed = true;
        }
        for f in self.fingers.iter_mut() {
            if f.as_ref().is_some_and(|n| n.id == id) {
                *f = None;
                changed = true;
            }
        }
        changed
    }

    /// Whether `id` is anywhere in the routing state (so its peer entry must stay).
    pub fn mentions(&self, id: NodeId) -> bool {
        self.predecessor.as_ref().is_some_and(|p| p.id == id)
            || self.successors.iter().any(|n| n.id == id)
            || self.fingers.iter().flatten().any(|n| n.id == id)
    }

    /// Sets finger `index` and, since Chord's fingers are monotone, every
    /// following finger whose start still falls before that node.
    pub fn set_finger(&mut self, index: usize, node: NodeRef) -> usize {
        let mut i = index;
        while i < RING_BITS {
            let start = self.me.ring.add_pow2(i);
            if i > index && !in_half_open(self.me.ring, start, node.ring) {
                break;
            }
            self.fingers[i] = Some(node.clone());
            i += 1;
        }
        i
    }

    /// Network size from id density, without messages. Node ids are
    /// uniform, so the distance from any fixed point to the next node is
    /// exponential with mean 1/N of the circle. Samples: the gaps
    /// predecessor → me → successors, and for each distinct finger the gap
    /// from its last start to it. With k samples summing to a fraction `s`
    /// of the circle, (k-1)/s estimates N without bias; the error falls
    /// like 1/√k, and k grows with log N.
    pub fn size_estimate(&self) -> SizeEstimate {
        let mut points: Vec<RingId> = Vec::new();
        points.extend(self.predecessor.iter().map(|p| p.ring));
        points.push(self.me.ring);
        points.extend(self.successors.iter().map(|s| s.ring));
        let mut gaps: Vec<f64> = points.windows(2).map(|w| w[0].fraction_to(w[1])).collect();
        let last_successor = self.successors.last().map(|s| s.ring);
        for run in self.finger_runs() {
            let start = self.me.ring.add_pow2(usize::from(run.to_index));
            let beyond_successors =
                last_successor.is_some_and(|l| in_open(l, start, run.node.ring));
            if beyond_successors {
                gaps.push(start.fraction_to(run.node.ring));
            }
        }
        let span: f64 = gaps.iter().sum();
        let nodes = match gaps.len() {
            0 => 1.0,
            1 => 1.0 / span.max(f64::MIN_POSITIVE),
            k => (k - 1) as f64 / span.max(f64::MIN_POSITIVE),
        };
        SizeEstimate {
            nodes: nodes.max(1.0 + self.successors.len() as f64),
            gaps: gaps.len() as u32,
        }
    }

    /// The finger table as runs of equal entries, for people.
    pub fn finger_runs(&self) -> Vec<FingerRun> {
        let mut runs: Vec<FingerRun> = Vec::new();
        for (i, f) in self.fingers.iter().enumerate() {
            let Some(node) = f else { continue };
            match runs.last_mut() {
                Some(run) if run.node.id == node.id && usize::from(run.to_index) + 1 == i => {
                    run.to_index = i as u8;
                }
                _ => runs.push(FingerRun {
                    from_index: i as u8,
                    to_index: i as u8,
                    node: node.clone(),
                }),
            }
        }
        runs
    }
}
