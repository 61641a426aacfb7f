//! Applying membership updates and what follows from them: refutation of
//! claims about this node, peers added and removed, Plumtree links
//! refilled, counted rejections.

use crate::membership::{Change, MemberState, Rejection};
use crate::message::{Fact, Update, UPDATES_PER_MESSAGE_MAX};
use crate::node::Gossip;
use crate::plumtree::Plumtree;
use crate::GossipMessage;
use rand::seq::IteratorRandom;
use skein_core::{Context, NodeId};

impl Gossip {
    /// What `peer` should hear about itself: our record of it when that is
    /// not `Alive`, so a live node wrongly suspected or declared dead
    /// refutes at its next contact (as memberlist does).
    pub(crate) fn news_for(&self, peer: NodeId) -> Option<Update> {
        self.membership
            .get(peer)
            .filter(|m| m.state != MemberState::Alive)
            .map(|m| m.latest.clone())
    }

    /// Applies updates from a peer; each change is queued to spread further.
    pub(crate) fn absorb(&mut self, ctx: &mut Context<'_, Self>, updates: &[Update]) {
        debug_assert!(
            updates.len() <= UPDATES_PER_MESSAGE_MAX,
            "checked by within_limits"
        );
        for update in updates {
            if update.subject == self.me {
                self.about_me(update);
                continue;
            }
            match self
                .membership
                .apply(update, &self.identity.public(), ctx.now())
            {
                Ok(change) => {
                    self.dissemination.push(update.clone());
                    self.on_change(ctx, change);
                }
                Err(rejection) => self.count_rejection(update.subject, rejection),
            }
        }
    }

    pub(crate) fn count_rejection(&mut self, subject: NodeId, rejection: Rejection) {
        match rejection {
            Rejection::Stale | Rejection::Full(_) => {}
            Rejection::BadSignature => self.counters.signature_rejects += 1,
            Rejection::IdentityConflict { .. } => {
                self.counters.identity_conflicts += 1;
                self.last_refusal = Some(rejection.reason(subject));
            }
            Rejection::Incompatible { .. } => {
                self.counters.incompatible_versions += 1;
                self.last_refusal = Some(rejection.reason(subject));
            }
        }
    }

    /// SWIM refutation: a suspicion (or stale death) of this node at or
    /// above its incarnation is answered with a fresh `Alive` one higher.
    fn about_me(&mut self, update: &Update) {
        let refutes = match &update.fact {
            Fact::Alive { key, .. } => {
                *key == self.identity.public() && update.incarnation > self.incarnation
            }
            _ => update.incarnation >= self.incarnation,
        };
        if !refutes {
            return;
        }
        // Checked before acting: an unsigned claim must not move our incarnation.
        let Ok(key) = self.membership.signer_key(update, &self.identity.public()) else {
            self.counters.signature_rejects += 1;
            return;
        };
        if !update.verifies_under(&key) {
            self.counters.signature_rejects += 1;
            return;
        }
        self.incarnation = update.incarnation + 1;
        self.counters.refutations += 1;
        self.dissemination.push(self.my_alive());
        self.dirty = true;
    }

    /// Reacts to a member's state change: peers, tree and disk follow.
    pub(crate) fn on_change(&mut self, ctx: &mut Context<'_, Self>, change: Change) {
        let was_live = change.before.is_some_and(MemberState::is_live);
        if change.after.is_live() && !was_live {
            if let Some(m) = self.membership.get(change.subject) {
                ctx.add_peer(change.subject, m.address().clone());
            }
            self.refill_eager(ctx, Some(change.subject));
            self.dirty = true;
        }
        if !change.after.is_live() {
            self.plumtree.forget_peer(change.subject);
            self.prober.forget(change.subject);
            self.refill_eager(ctx, None);
            self.dirty = true;
        }
    }

    /// Keeps `eager_fanout` tree neighbours (eager or lazy): `candidate`
    /// first, else random live members; and at least one eager peer. A
    /// pruned link stays a neighbour (lazy), so a node that keeps learning
    /// of new members does not re-grow its eager set after every prune,
    /// which would turn the tree back into flooding. A new eager link is
    /// announced by an empty graft so it is symmetric (Plumtree's links are).
    pub(crate) fn refill_eager(&mut self, ctx: &mut Context<'_, Self>, candidate: Option<NodeId>) {
        let fanout = self.config.eager_fanout;
        let fresh = |t: &Plumtree, id: &NodeId| !t.eager.contains(id) && !t.lazy.contains(id);
        let wanting = |t: &Plumtree| t.eager.len() + t.lazy.len() < fanout || t.eager.is_empty();
        if let Some(c) = candidate.filter(|c| fresh(&self.plumtree, c)) {
            if wanting(&self.plumtree) {
                self.make_eager_link(ctx, c);
            }
        }
        while wanting(&self.plumtree) {
            let tree = &self.plumtree;
            let Some(peer) = self
                .membership
                .live()
                .filter(|id| fresh(tree, id))
                .choose(ctx.rng())
            else {
                break;
            };
            self.make_eager_link(ctx, peer);
        }
    }

    fn make_eager_link(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        self.plumtree.make_eager(peer);
        self.send(ctx, peer, GossipMessage::Graft { ids: Vec::new() });
    }
}
