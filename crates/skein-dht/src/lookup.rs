//! Iterative lookups (Chord §4.3, the iterative style of §5.1 of the
//! journal version). The node that wants an answer asks one node at a time
//! and moves to the closer node each answer names, so:
//! * the hop count is exact and known where it is reported;
//! * a node that does not answer is noticed by the one that cares, which
//!   routes around it (it is avoided and forgotten) and starts over — a
//!   recursive lookup would stall inside some other node's timeout;
//! * intermediate nodes keep no state per lookup, so nothing to bound there.
//!
//! The cost is one round trip per hop instead of one message per hop.

use crate::message::{Body, NodeRef};
use crate::node::{Dht, NodeState};
use crate::ring::RingId;
use crate::routing::Route;
use skein_core::{Context, NodeId};
use std::collections::BTreeSet;
use std::time::Duration;

/// Who is waiting for a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A client operation (`ops`).
    Op(u64),
    /// fix-fingers for finger `index`.
    Finger(usize),
    /// This node's own successor, through the join node.
    Join,
    /// The replicas of a range being garbage-collected (`gc.rs`).
    Gc,
}

#[derive(Clone, Debug)]
pub struct Lookup {
    pub key: RingId,
    pub purpose: Purpose,
    pub hops: u32,
    /// The node asked last, and when.
    pub asked: Option<(NodeRef, Duration)>,
    /// Nodes that timed out during this lookup.
    pub avoid: BTreeSet<NodeId>,
    pub restarts: u32,
}

/// How a lookup ended.
pub enum LookupEnd {
    Found { nodes: Vec<NodeRef>, hops: u32 },
    Failed(String),
}

impl Dht {
    /// Starts a lookup for `key`; `via` forces the first node asked (joins).
    pub(crate) fn start_lookup(
        &mut self,
        ctx: &mut Context<'_, Self>,
        key: RingId,
        purpose: Purpose,
        via: Option<NodeRef>,
    ) -> u64 {
        let id = self.fresh_id();
        let lookup = Lookup {
            key,
            purpose,
            hops: 0,
            asked: None,
            avoid: BTreeSet::new(),
            restarts: 0,
        };
        self.lookups.insert(id, lookup);
        match via {
            Some(node) => self.ask(ctx, id, node),
            None => self.route_from_here(ctx, id),
        }
        id
    }

    fn route_from_here(&mut self, ctx: &mut Context<'_, Self>, id: u64) {
        let Some(lookup) = self.lookups.get(&id) else {
            return;
        };
        match self.routing.route(lookup.key, &lookup.avoid) {
            Route::Found(nodes) => {
                let hops = lookup.hops;
                self.end_lookup(ctx, id, LookupEnd::Found { nodes, hops })
            }
            Route::Closer(node) => self.ask(ctx, id, node),
        }
    }

    fn ask(&mut self, ctx: &mut Context<'_, Self>, id: u64, node: NodeRef) {
        let hops_max = self.cfg.lookup_hops_max;
        let now = self.now;
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        lookup.hops += 1;
        if lookup.hops > hops_max {
            let why = format!("more than {hops_max} hops (the ring is inconsistent)");
            return self.end_lookup(ctx, id, LookupEnd::Failed(why));
        }
        let key = lookup.key;
        lookup.asked = Some((node.clone(), now));
        self.send(ctx, &node, Body::FindSuccessor { lookup: id, key });
    }

    /// A lookup step asked of this node.
    pub(crate) fn on_find_successor(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeRef,
        lookup: u64,
        key: RingId,
    ) {
        let avoid = BTreeSet::from([sender.id]);
        let body = match self.routing.route(key, &BTreeSet::new()) {
            Route::Found(nodes) => Body::Found { lookup, nodes },
            // The asker never needs to be told to ask itself again, unless it is the answer.
            Route::Closer(node) if node.id == sender.id => match self.routing.route(key, &avoid) {
                Route::Found(nodes) => Body::Found { lookup, nodes },
                Route::Closer(node) => Body::Closer { lookup, node },
            },
            Route::Closer(node) => Body::Closer { lookup, node },
        };
        self.send(ctx, &sender, body);
    }

    fn asked_is(&self, lookup: u64, sender: NodeId) -> bool {
        self.lookups
            .get(&lookup)
            .and_then(|l| l.asked.as_ref())
            .is_some_and(|(n, _)| n.id == sender)
    }

    pub(crate) fn on_found(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        lookup: u64,
        nodes: Vec<NodeRef>,
    ) {
        if !self.asked_is(lookup, sender) {
            self.counters.messages_ignored += 1;
            return;
        }
        let hops = self.lookups[&lookup].hops;
        self.end_lookup(ctx, lookup, LookupEnd::Found { nodes, hops });
    }

    pub(crate) fn on_closer(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        lookup: u64,
        node: NodeRef,
    ) {
        if !self.asked_is(lookup, sender) {
            self.counters.messages_ignored += 1;
            return;
        }
        let avoided = self.lookups[&lookup].avoid.contains(&node.id);
        if node.id == self.routing.me.id || avoided {
            // Pointed back at us or at a node known dead: continue from our own table.
            if let Some(l) = self.lookups.get_mut(&lookup) {
                l.avoid.insert(sender);
            }
            return self.route_from_here(ctx, lookup);
        }
        self.ask(ctx, lookup, node);
    }

    /// Hop timeouts: the silent node is avoided (and forgotten, Chord's
    /// failure handling), and the lookup starts over from this node.
    pub(crate) fn expire_lookups(&mut self, ctx: &mut Context<'_, Self>) {
        let timeout = self.cfg.rpc_timeout();
        let now = self.now;
        let expired: Vec<(u64, NodeId)> = self
            .lookups
            .iter()
            .filter_map(|(id, l)| {
                let (node, since) = l.asked.as_ref()?;
                (now.saturating_sub(*since) >= timeout).then_some((*id, node.id))
            })
            .collect();
        for (id, silent) in expired {
            let restarts_max = self.cfg.lookup_retries_max;
            let Some(lookup) = self.lookups.get_mut(&id) else {
                continue;
            };
            lookup.avoid.insert(silent);
            lookup.asked = None;
            lookup.restarts += 1;
            let give_up = lookup.restarts > restarts_max || lookup.purpose == Purpose::Join;
            self.counters.rpc_timeouts += 1;
            if self.routing.forget(silent) {
                self.counters.nodes_forgotten += 1;
            }
            if give_up {
                let why = format!("node {silent} did not answer within {timeout:?}");
                self.end_lookup(ctx, id, LookupEnd::Failed(why));
            } else {
                self.route_from_here(ctx, id);
            }
        }
    }

    fn end_lookup(&mut self, ctx: &mut Context<'_, Self>, id: u64, end: LookupEnd) {
        let Some(lookup) = self.lookups.remove(&id) else {
            return;
        };
        match &end {
            LookupEnd::Found { hops, .. } => self.counters.lookup_done(*hops),
            LookupEnd::Failed(_) => self.counters.lookups_failed += 1,
        }
        match lookup.purpose {
            Purpose::Op(op) => self.op_lookup_ended(ctx, op, end),
            Purpose::Finger(index) => {
                self.finger_lookup = None;
                if let LookupEnd::Found { nodes, .. } = end {
                    if index == 0 {
                        if let Some(found) = nodes.iter().find(|n| n.id != self.routing.me.id) {
                            self.learn_successor(&found.clone());
                        }
                    } else if nodes[0].id != self.routing.me.id {
                        self.routing.set_finger(index, nodes[0].clone());
                    }
                }
            }
            Purpose::Join => self.join_lookup_ended(ctx, end),
            Purpose::Gc => self.gc_lookup_ended(ctx, end),
        }
    }

    fn join_lookup_ended(&mut self, ctx: &mut Context<'_, Self>, end: LookupEnd) {
        if !matches!(self.state, NodeState::Joining { .. }) {
            return;
        }
        let LookupEnd::Found { nodes, .. } = end else {
            return; // tried again on a later tick
        };
        let mut nodes = nodes.into_iter();
        let Some(first) = nodes.next() else { return };
        let rest: Vec<NodeRef> = nodes.collect();
        if first.id == self.routing.me.id {
            // A restart: the ring still routes to our old self, so our place
            // and successors are the ones it names.
            match rest.split_first() {
                Some((succ, more)) => self.routing.adopt_successors(succ.clone(), more),
                None => self.routing.successors.clear(),
            }
        } else {
            self.routing.adopt_successors(first, &rest);
        }
        self.state = NodeState::Member;
        self.counters.joins += 1;
        let succ = self.routing.successor().clone();
        if succ.id != self.routing.me.id {
            self.send(ctx, &succ, Body::Notify);
        }
    }
}
