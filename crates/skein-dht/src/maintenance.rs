//! Keeping the ring whole (Chord §4.4 and §5): join, stabilize / notify,
//! check-predecessor, fix-fingers, graceful leave, and the tick that paces
//! them. A peer that misses `rpc_timeout` is taken as failed and forgotten;
//! the successor list lets the ring close over up to r-1 adjacent failures.

use crate::lookup::Purpose;
use crate::message::{Body, NodeRef};
use crate::node::{node_id_of, Awaiting, Dht, NodeState};
use crate::request::{DhtError, Reply};
use crate::ring::{in_half_open, in_open, RING_BITS};
use skein_core::{Context, PeerAddress, RequestId};

impl Dht {
    pub(crate) fn start(&mut self, ctx: &mut Context<'_, Self>) {
        let via = self.cfg.join.clone();
        self.begin_join(ctx, via);
    }

    /// Forgets the ring and looks for one through `via` (`None`, or our own
    /// address: probe members, then start a ring — at once if there are none).
    fn begin_join(&mut self, ctx: &mut Context<'_, Self>, via: Option<PeerAddress>) {
        self.routing.successors.clear();
        self.routing.predecessor = None;
        self.routing.fingers.iter_mut().for_each(|f| *f = None);
        self.lookups.retain(|_, l| l.purpose != Purpose::Join);
        self.probe = None;
        self.join_attempts = 0;
        let via = via
            .filter(|v| *v != self.routing.me.address)
            .and_then(|v| Some(NodeRef::new(node_id_of(&v)?, v)));
        self.state = NodeState::Joining { via: via.clone() };
        self.joining_tick(ctx, via);
    }

    /// Booted from a log with routing state: a member at once. Stabilize
    /// on the next tick checks the successor, so a ring that moved on while
    /// this node was down takes it back like a node that just joined.
    pub(crate) fn start_restored(&mut self) {
        self.state = NodeState::Member;
        self.counters.joins += 1;
    }

    pub(crate) fn tick(&mut self, ctx: &mut Context<'_, Self>) {
        self.ticks += 1;
        self.expire_lookups(ctx);
        self.expire_ops(ctx);
        match self.state.clone() {
            NodeState::Left => {}
            NodeState::Joining { via } => self.joining_tick(ctx, via),
            NodeState::Member => {
                self.lone_member_tick(ctx);
                self.stabilize(ctx);
                if self.ticks % u64::from(self.cfg.check_predecessor_ticks) == 0 {
                    self.check_predecessor(ctx);
                }
                self.fix_fingers(ctx);
                if self.ticks % u64::from(self.cfg.replicate_ticks) == 0 {
                    self.replicate_round(ctx);
                }
                if self.ticks % u64::from(self.cfg.gc_ticks) == 0 {
                    self.gc_round(ctx);
                }
                self.save_routing_tick();
            }
        }
    }

    /// Chord's stabilize: ask the successor for its predecessor and list; a
    /// successor that stays silent for `rpc_timeout` is dropped, and the next
    /// one in the list takes over.
    fn stabilize(&mut self, ctx: &mut Context<'_, Self>) {
        if let Some(waiting) = self.stabilizing.clone() {
            if self.now.saturating_sub(waiting.since) < self.cfg.rpc_timeout() {
                return;
            }
            self.stabilizing = None;
            self.counters.rpc_timeouts += 1;
            if self.routing.forget(waiting.peer) {
                self.counters.nodes_forgotten += 1;
            }
        }
        if self.routing.successors.is_empty() {
            // Alone, but someone notified us: it is our successor too (a ring of two).
            if let Some(p) = self.routing.predecessor.clone() {
                self.routing.successors = vec![p];
            } else {
                return;
            }
        }
        let succ = self.routing.successor().clone();
        self.stabilizing = Some(Awaiting {
            peer: succ.id,
            since: self.now,
            nonce: 0,
        });
        self.send(ctx, &succ, Body::GetNeighbours);
    }

    pub(crate) fn on_get_neighbours(&mut self, ctx: &mut Context<'_, Self>, sender: NodeRef) {
        let body = Body::Neighbours {
            predecessor: self.routing.predecessor.clone(),
            successors: self.routing.successors.clone(),
        };
        self.send(ctx, &sender, body);
    }

    pub(crate) fn on_neighbours(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeRef,
        predecessor: Option<NodeRef>,
        successors: Vec<NodeRef>,
    ) {
        let expected = self
            .stabilizing
            .as_ref()
            .is_some_and(|w| w.peer == sender.id);
        if !expected || self.state != NodeState::Member {
            self.counters.messages_ignored += 1;
            return;
        }
        self.stabilizing = None;
        let me = self.routing.me.ring;
        match predecessor {
            // A node joined between us and our successor: it is our successor now.
            Some(x) if x.id != self.routing.me.id && in_open(me, x.ring, sender.ring) => {
                let mut list = vec![sender];
                list.extend(successors);
                self.routing.adopt_successors(x, &list);
            }
            _ => self.routing.adopt_successors(sender, &successors),
        }
        let succ = self.routing.successor().clone();
        if succ.id != self.routing.me.id {
            self.send(ctx, &succ, Body::Notify);
        }
    }

    /// A ring member we heard from that sits between us and our successor is
    /// our successor: taking it at once, instead of waiting for stabilize to
    /// walk there, speeds up convergence after many concurrent joins.
    pub(crate) fn learn_successor(&mut self, sender: &NodeRef) {
        let me = self.routing.me.ring;
        let closer = self.state == NodeState::Member
            && sender.id != self.routing.me.id
            && !self.routing.successors.is_empty()
            && in_open(me, sender.ring, self.routing.successor().ring);
        if closer {
            let list = self.routing.successors.clone();
            self.routing.adopt_successors(sender.clone(), &list);
        }
    }

    /// Chord's notify: `sender` thinks it may be our predecessor.
    pub(crate) fn on_notify(&mut self, ctx: &mut Context<'_, Self>, sender: NodeRef) {
        let closer = match &self.routing.predecessor {
            None => true,
            Some(p) => p.id == sender.id || in_open(p.ring, sender.ring, self.routing.me.ring),
        };
        if closer {
            let changed = self.routing.predecessor.as_ref() != Some(&sender);
            self.routing.predecessor = Some(sender);
            if changed {
                // Keys between the old and new predecessor now belong to it.
                self.handoff_to_predecessor(ctx);
            }
        }
        if self.routing.successors.is_empty() {
            if let Some(p) = self.routing.predecessor.clone() {
                self.routing.successors = vec![p];
            }
        }
    }

    fn check_predecessor(&mut self, ctx: &mut Context<'_, Self>) {
        if let Some(waiting) = self.pinging.clone() {
            if self.now.saturating_sub(waiting.since) < self.cfg.rpc_timeout() {
                return;
            }
            self.pinging = None;
            self.counters.rpc_timeouts += 1;
            if self
                .routing
                .predecessor
                .as_ref()
                .is_some_and(|p| p.id == waiting.peer)
            {
                self.routing.predecessor = None;
                self.counters.nodes_forgotten += 1;
            }
        }
        let Some(pred) = self.routing.predecessor.clone() else {
            return;
        };
        let nonce = self.fresh_id();
        self.pinging = Some(Awaiting {
            peer: pred.id,
            since: self.now,
            nonce,
        });
        self.send(ctx, &pred, Body::Ping { nonce });
    }

    pub(crate) fn on_pong(&mut self, sender: skein_core::NodeId, nonce: u64) {
        if self
            .pinging
            .as_ref()
            .is_some_and(|w| w.peer == sender && w.nonce == nonce)
        {
            self.pinging = None;
        }
    }

    /// One finger per tick (Chord's fix_fingers). Fingers whose start falls
    /// before the successor are the successor, with no lookup; so a full
    /// pass costs about log2 N lookups, not 160.
    fn fix_fingers(&mut self, ctx: &mut Context<'_, Self>) {
        if self.finger_lookup.is_some() || self.routing.successors.is_empty() {
            return;
        }
        let me = self.routing.me.ring;
        let succ = self.routing.successor().clone();
        for _ in 0..RING_BITS {
            let index = self.finger_next;
            self.finger_next = (self.finger_next + 1) % RING_BITS;
            let start = me.add_pow2(index);
            if index == 0 {
                // Finger 0 is the successor. Stabilize corrects it one node
                // per round; a lookup through another node finds the true
                // one at once when a join landed far from its place. The
                // node is picked at random among the fingers: after many
                // concurrent joins successor pointers can form two chains
                // interleaved around the ring, each locally consistent, and
                // stabilize never merges them. Always asking the same finger
                // may keep routing inside our own chain; another finger's
                // route reaches the other chain's node just before us, whose
                // successor answer is closer than ours.
                let far = self.random_finger_other_than(ctx, succ.id);
                if let Some(far) = far {
                    let id = self.start_lookup(ctx, start, Purpose::Finger(0), Some(far));
                    if self.lookups.contains_key(&id) {
                        self.finger_lookup = Some(id);
                    }
                    return;
                }
            }
            if in_half_open(me, start, succ.ring) {
                self.routing.fingers[index] = Some(succ.clone());
                continue;
            }
            let id = self.start_lookup(ctx, start, Purpose::Finger(index), None);
            if self.lookups.contains_key(&id) {
                self.finger_lookup = Some(id);
            }
            return;
        }
    }

    fn random_finger_other_than(
        &self,
        ctx: &mut Context<'_, Self>,
        not: skein_core::NodeId,
    ) -> Option<NodeRef> {
        let mut candidates: Vec<&NodeRef> = Vec::new();
        for f in self.routing.fingers.iter().flatten() {
            if f.id != not && f.id != self.routing.me.id && candidates.iter().all(|c| c.id != f.id)
            {
                candidates.push(f);
            }
        }
        if candidates.is_empty() {
            return None;
        }
        let pick = ctx.rng().next_u64() as usize % candidates.len();
        Some(candidates[pick].clone())
    }

    pub(crate) fn on_leaving(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeRef,
        predecessor: Option<NodeRef>,
        successors: Vec<NodeRef>,
    ) {
        let me = self.routing.me.id;
        let was_successor = self.routing.successor().id == sender.id;
        let was_predecessor = self.routing.predecessor.as_ref().map(|p| p.id) == Some(sender.id);
        self.routing.forget(sender.id);
        if was_successor {
            let list: Vec<NodeRef> = successors
                .into_iter()
                .filter(|n| n.id != sender.id)
                .collect();
            if let Some((first, rest)) = list.split_first() {
                if first.id != me {
                    self.routing.adopt_successors(first.clone(), rest);
                }
            }
            self.stabilizing = None;
        }
        if was_predecessor {
            self.routing.predecessor = predecessor.filter(|p| p.id != me && p.id != sender.id);
            self.pinging = None;
        }
        let _ = ctx;
    }

    pub(crate) fn join(
        &mut self,
        ctx: &mut Context<'_, Self>,
        request: RequestId,
        via: PeerAddress,
    ) {
        if node_id_of(&via).is_none() {
            let why = format!("`{via}` names no node id; use ID@HOST:TCP_PORT:UDP_PORT");
            return ctx.reply(request, Reply::Error(DhtError::LookupFailed { why }));
        }
        self.begin_join(ctx, Some(via));
        ctx.reply(request, Reply::Joining);
    }

    /// Graceful leave: every key goes to the successor, the neighbours learn
    /// each other, and this node stops answering.
    pub(crate) fn leave(&mut self, ctx: &mut Context<'_, Self>, request: RequestId) {
        if self.state != NodeState::Member {
            return ctx.reply(request, Reply::Error(DhtError::NotJoined));
        }
        let items = self.network.len();
        let succ = self.routing.successor().clone();
        if succ.id != self.routing.me.id {
            self.hand_over_everything(ctx, &succ);
            let body = Body::Leaving {
                predecessor: self.routing.predecessor.clone(),
                successors: self.routing.successors.clone(),
            };
            self.send(ctx, &succ, body.clone());
            if let Some(pred) = self.routing.predecessor.clone() {
                if pred.id != succ.id {
                    self.send(ctx, &pred, body);
                }
            }
        }
        self.network.clear();
        self.log_left();
        self.fail_all_ops(ctx);
        self.lookups.clear();
        self.finger_lookup = None;
        self.stabilizing = None;
        self.pinging = None;
        self.routing.successors.clear();
        self.routing.predecessor = None;
        self.routing.fingers.iter_mut().for_each(|f| *f = None);
        self.state = NodeState::Left;
        self.counters.leaves += 1;
        ctx.reply(
            request,
            Reply::Left {
                items_handed_over: items,
            },
        );
    }
}
