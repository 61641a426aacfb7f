//! SWIM failure detection (Das, Gupta, Motivala, DSN 2002), with the
//! suspicion and incarnation extensions of §4.2:
//!
//! ```text
//!  every probe_interval: Ping(next target in a shuffled round)
//!    no Ack after probe_timeout ──▶ PingReq(target) to k live members
//!    no (Indirect)Ack by period end ──▶ Suspect(target, inc), disseminated
//!    (Suspect and Dead also go straight to the subject, to refute at once)
//!  Suspect for suspicion_timeout · max(1, log10 n) ──▶ Dead(target, inc), disseminated
//!  Dead or Left for dead_expiry  ──▶ forgotten, RemovePeer
//! ```

use crate::membership::MemberState;
use crate::message::{Fact, GossipMessage, Update};
use crate::node::Gossip;
use rand::seq::{IteratorRandom, SliceRandom};
use skein_core::{Context, NodeId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Indirect probes relayed for others at once; more are dropped.
pub const RELAYS_MAX: usize = 256;

struct Probe {
    target: NodeId,
    probe: u64,
    sent_at: Duration,
    indirect_sent: bool,
    acked: bool,
}

struct Relay {
    requester: NodeId,
    probe: u64,
    target: NodeId,
    expires_at: Duration,
}

/// The probing side of SWIM: whom to probe next and what is outstanding.
pub struct Prober {
    next_probe_at: Duration,
    round: Vec<NodeId>,
    current: Option<Probe>,
    relays: BTreeMap<u64, Relay>,
    next_probe_id: u64,
}

impl Prober {
    pub fn new(first_probe_at: Duration) -> Self {
        Self {
            next_probe_at: first_probe_at,
            round: Vec::new(),
            current: None,
            relays: BTreeMap::new(),
            next_probe_id: 1,
        }
    }

    /// A direct or indirect ack for `probe` from `target`.
    pub fn acked(&mut self, probe: u64, target: NodeId) {
        if let Some(p) = self
            .current
            .as_mut()
            .filter(|p| p.probe == probe && p.target == target)
        {
            p.acked = true;
        }
    }

    pub fn forget(&mut self, id: NodeId) {
        self.round.retain(|r| *r != id);
        if self.current.as_ref().is_some_and(|p| p.target == id) {
            self.current = None;
        }
    }

    pub fn relays(&self) -> usize {
        self.relays.len()
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_probe_id += 1;
        self.next_probe_id
    }
}

impl Gossip {
    pub(crate) fn probe_round(&mut self, ctx: &mut Context<'_, Self>) {
        let now = ctx.now();
        self.prober.relays.retain(|_, r| r.expires_at > now);
        let period = self.config.probe_interval();
        if let Some(p) = &self.prober.current {
            let (target, probe, sent_at, acked) = (p.target, p.probe, p.sent_at, p.acked);
            if acked {
                self.prober.current = None;
            } else if now >= sent_at + period {
                self.prober.current = None;
                self.suspect(ctx, target);
            } else if now >= sent_at + self.config.probe_timeout() && !p.indirect_sent {
                self.indirect_probe(ctx, target, probe);
            }
        }
        if now < self.prober.next_probe_at || self.prober.current.is_some() {
            return;
        }
        self.prober.next_probe_at = now + period;
        let Some(target) = self.next_target(ctx) else {
            return;
        };
        let probe = self.prober.fresh_id();
        self.prober.current = Some(Probe {
            target,
            probe,
            sent_at: now,
            indirect_sent: false,
            acked: false,
        });
        let updates = self.piggyback();
        self.send(ctx, target, GossipMessage::Ping { probe, updates });
    }

    /// Round-robin over a shuffled list of live members (SWIM §4.3: bounded
    /// detection time, unlike picking at random each period).
    fn next_target(&mut self, ctx: &mut Context<'_, Self>) -> Option<NodeId> {
        loop {
            if self.prober.round.is_empty() {
                self.prober.round = self.membership.live().collect();
                self.prober.round.shuffle(ctx.rng());
                if self.prober.round.is_empty() {
                    return None;
                }
            }
            let next = self.prober.round.pop()?;
            if self.membership.get(next).is_some_and(|m| m.state.is_live()) {
                return Some(next);
            }
        }
    }

    fn indirect_probe(&mut self, ctx: &mut Context<'_, Self>, target: NodeId, probe: u64) {
        if let Some(p) = self.prober.current.as_mut() {
            p.indirect_sent = true;
        }
        let helpers: Vec<NodeId> = self
            .membership
            .iter()
            .filter(|(id, m)| m.state == MemberState::Alive && *id != target)
            .map(|(id, _)| id)
            .choose_multiple(ctx.rng(), self.config.indirect_probes);
        for helper in helpers {
            self.send(ctx, helper, GossipMessage::PingReq { probe, target });
        }
    }

    fn suspect(&mut self, ctx: &mut Context<'_, Self>, target: NodeId) {
        let Some(m) = self
            .membership
            .get(target)
            .filter(|m| m.state == MemberState::Alive)
        else {
            return;
        };
        let update = Update::signed(
            &self.identity,
            target,
            m.incarnation,
            Fact::Suspect,
            self.me,
        );
        self.counters.suspicions_raised += 1;
        self.apply_own(ctx, update.clone());
        self.tell_subject(ctx, update);
    }

    /// Sends a suspicion or death straight to its subject, so a live node
    /// refutes at once instead of waiting for the rumour to reach it
    /// (memberlist does the same; nodes that think it dead never probe it).
    fn tell_subject(&mut self, ctx: &mut Context<'_, Self>, update: Update) {
        let subject = update.subject;
        let message = GossipMessage::Sync {
            updates: vec![update],
            reply: false,
        };
        self.send(ctx, subject, message);
    }

    /// SWIM's suspicion timeout grows with log n (memberlist scales it the
    /// same way): a refutation needs O(log n) periods to spread.
    fn suspicion_timeout(&self) -> Duration {
        let members = self.membership.len() as u32 + 1;
        self.config.suspicion_timeout() * members.saturating_add(1).ilog10().max(1)
    }

    /// Applies and spreads an update this node signed.
    pub(crate) fn apply_own(&mut self, ctx: &mut Context<'_, Self>, update: Update) {
        match self
            .membership
            .apply(&update, &self.identity.public(), ctx.now())
        {
            Ok(change) => {
                self.dissemination.push(update);
                self.on_change(ctx, change);
            }
            Err(rejection) => debug_assert!(false, "own update refused: {rejection:?}"),
        }
    }

    pub(crate) fn expire_suspects(&mut self, ctx: &mut Context<'_, Self>) {
        if !self.membership.any_not_alive() {
            return;
        }
        let now = ctx.now();
        let timeout = self.suspicion_timeout();
        let overdue: Vec<(NodeId, u64)> = self
            .membership
            .iter()
            .filter(|(_, m)| {
                m.state == MemberState::Suspect && now.saturating_sub(m.since) >= timeout
            })
            .map(|(id, m)| (id, m.incarnation))
            .collect();
        for (id, incarnation) in overdue {
            let update = Update::signed(&self.identity, id, incarnation, Fact::Dead, self.me);
            self.apply_own(ctx, update.clone());
            self.tell_subject(ctx, update);
        }
    }

    pub(crate) fn expire_dead(&mut self, ctx: &mut Context<'_, Self>) {
        for id in self.membership.expire(ctx.now(), self.config.dead_expiry()) {
            // Boot nodes stay reachable: they are how a node cut off by a
            // long partition finds its way back.
            if !self.boot_nodes.contains(&id) {
                ctx.remove_peer(id);
            }
            self.plumtree.forget_peer(id);
            self.prober.forget(id);
            self.dirty = true;
        }
    }

    pub(crate) fn on_ping(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        probe: u64,
        updates: &[Update],
    ) {
        self.absorb(ctx, updates);
        let mut updates = self.piggyback();
        updates.extend(self.news_for(from));
        self.send(ctx, from, GossipMessage::Ack { probe, updates });
    }

    pub(crate) fn on_ack(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        probe: u64,
        updates: &[Update],
    ) {
        self.absorb(ctx, updates);
        self.prober.acked(probe, from);
        if let Some(relay) = self.prober.relays.remove(&probe) {
            if relay.target == from {
                let message = GossipMessage::IndirectAck {
                    probe: relay.probe,
                    target: from,
                };
                self.send(ctx, relay.requester, message);
            }
        }
    }

    pub(crate) fn on_ping_req(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        probe: u64,
        target: NodeId,
    ) {
        let known = self
            .membership
            .get(target)
            .is_some_and(|m| m.state.is_live());
        if !known || target == self.me || self.prober.relays.len() >= RELAYS_MAX {
            return;
        }
        let relay_probe = self.prober.fresh_id();
        let expires_at = ctx.now() + self.config.probe_interval();
        self.prober.relays.insert(
            relay_probe,
            Relay {
                requester: from,
                probe,
                target,
                expires_at,
            },
        );
        let updates = self.piggyback();
        self.send(
            ctx,
            target,
            GossipMessage::Ping {
                probe: relay_probe,
                updates,
            },
        );
    }
}
