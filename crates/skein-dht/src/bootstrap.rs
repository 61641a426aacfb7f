//! Finding a ring when the join node is silent, when this node was told to
//! start a ring, or when it is alone: ask a few random configured members
//! (the driver's static peers) where this node's id falls. The first one in
//! a ring answers; otherwise, after one silent round, a node told to start a
//! ring starts it. A lone member keeps probing now and then, so a node that
//! restarted while everyone it asked was down still finds the ring again.

use crate::lookup::Purpose;
use crate::message::{Body, Message, NodeRef};
use crate::node::{Dht, NodeState};
use skein_core::{Context, NodeId};
use std::collections::BTreeSet;
use std::time::Duration;

/// Members asked at once in one probe round.
pub const PROBES_PER_ROUND: usize = 8;
/// A lone member probes every this many ticks.
const LONE_PROBE_TICKS: u64 = 10;

#[derive(Clone, Debug)]
pub struct Probe {
    pub lookup: u64,
    pub targets: BTreeSet<NodeId>,
    pub since: Duration,
}

impl Dht {
    pub(crate) fn is_alone(&self) -> bool {
        self.routing.successors.is_empty() && self.routing.predecessor.is_none()
    }

    /// Joining: alternate between the join node and probes of members; a
    /// node told to start a ring starts it after one unanswered probe round.
    pub(crate) fn joining_tick(&mut self, ctx: &mut Context<'_, Self>, via: Option<NodeRef>) {
        let joining = self.lookups.values().any(|l| l.purpose == Purpose::Join);
        if joining || self.probe_pending() {
            return;
        }
        self.join_attempts += 1;
        match via {
            Some(via) if self.join_attempts % 2 == 1 || self.members.is_empty() => {
                let key = self.routing.me.ring;
                self.start_lookup(ctx, key, Purpose::Join, Some(via));
            }
            None if self.join_attempts > 1 || self.members.is_empty() => {
                self.state = NodeState::Member;
            }
            _ => self.probe_members(ctx),
        }
    }

    pub(crate) fn lone_member_tick(&mut self, ctx: &mut Context<'_, Self>) {
        if self.is_alone()
            && !self.members.is_empty()
            && !self.probe_pending()
            && self.ticks % LONE_PROBE_TICKS == 0
        {
            self.probe_members(ctx);
        }
    }

    /// Whether a probe round is still waiting for answers (an expired one is dropped).
    fn probe_pending(&mut self) -> bool {
        match &self.probe {
            Some(p) if self.now.saturating_sub(p.since) < self.cfg.rpc_timeout() => true,
            _ => {
                self.probe = None;
                false
            }
        }
    }

    fn probe_members(&mut self, ctx: &mut Context<'_, Self>) {
        let want = PROBES_PER_ROUND.min(self.members.len());
        let mut targets = BTreeSet::new();
        for _ in 0..4 * PROBES_PER_ROUND {
            if targets.len() >= want {
                break;
            }
            let pick = ctx.rng().next_u64() as usize % self.members.len();
            targets.insert(self.members[pick]);
        }
        let lookup = self.fresh_id();
        let key = self.routing.me.ring;
        for &to in &targets {
            // Static members are in the driver's peer set already.
            let message = Message {
                from: self.routing.me.clone(),
                body: Body::FindSuccessor { lookup, key },
            };
            ctx.send(to, message);
        }
        self.probe = Some(Probe {
            lookup,
            targets,
            since: self.now,
        });
    }

    fn probe_answered(&self, lookup: u64, sender: NodeId) -> bool {
        self.probe
            .as_ref()
            .is_some_and(|p| p.lookup == lookup && p.targets.contains(&sender))
    }

    /// A probe's `Found`; false if it answers no probe.
    pub(crate) fn on_probe_found(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        lookup: u64,
        nodes: &[NodeRef],
    ) -> bool {
        if !self.probe_answered(lookup, sender) {
            return false;
        }
        self.probe = None;
        let me = self.routing.me.id;
        let others: Vec<NodeRef> = nodes.iter().filter(|n| n.id != me).cloned().collect();
        let Some((first, rest)) = others.split_first() else {
            return true;
        };
        if self.is_member() && !self.is_alone() {
            return true;
        }
        self.routing.adopt_successors(first.clone(), rest);
        self.state = NodeState::Member;
        self.counters.joins += 1;
        let succ = self.routing.successor().clone();
        self.send(ctx, &succ, Body::Notify);
        true
    }

    /// A probe's `Closer`: follow it as an ordinary join lookup.
    pub(crate) fn on_probe_closer(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        lookup: u64,
        node: &NodeRef,
    ) -> bool {
        if !self.probe_answered(lookup, sender) {
            return false;
        }
        self.probe = None;
        if node.id != self.routing.me.id {
            let key = self.routing.me.ring;
            self.start_lookup(ctx, key, Purpose::Join, Some(node.clone()));
        }
        true
    }
}
