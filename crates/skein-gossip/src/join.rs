//! Joining through boot nodes, admitting joiners (version, proof of work,
//! rate and Sybil limits, identity), periodic peer sync, and leaving.
//!
//! ```text
//!  joiner ── Join(signed Alive, pow) ──▶ boot node
//!         ◀── Welcome(sample of members) ─┘   or Refused(reason)
//!         ◀── OFFER(recent ids)  (anti-entropy: the joiner grafts what it lacks)
//!  every sync interval + jitter: Sync(sample) + OFFER(recent ids) ──▶ random live member
//!                                ◀── Sync(sample, reply: false) + OFFER(recent ids)
//!  leave: Left(signed) to every live member, then silence
//! ```

use crate::api::{state_name, GossipReply, PeerView};
use crate::identity::{pow_valid, PublicKey};
use crate::membership::Rejection;
use crate::message::{Fact, GossipMessage, Join, Update, UPDATES_PER_MESSAGE_MAX};
use crate::node::Gossip;
use rand::seq::IteratorRandom;
use skein_core::{Context, NodeId};
use std::time::Duration;

impl Gossip {
    /// Sends a join to every boot node; retried each probe interval until welcomed.
    pub(crate) fn join_round(&mut self, ctx: &mut Context<'_, Self>) {
        self.next_join_at = ctx.now() + 2 * self.config.probe_interval();
        if self.joined {
            return;
        }
        // The proof of work is solved by the driver, not in this step (it
        // can take seconds); until it hands one in, the node waits.
        let Some(pow_nonce) = self.pow_nonce_ready() else {
            return;
        };
        let join = Join {
            alive: self.my_alive(),
            pow_nonce,
        };
        for boot in self.boot_nodes.clone() {
            self.send(ctx, boot, GossipMessage::Join(join.clone()));
        }
    }

    /// The join's proof of work: any nonce at difficulty 0, else the one
    /// the driver solved and handed in ([`Gossip::accept_proof_of_work`]).
    fn pow_nonce_ready(&self) -> Option<u64> {
        if self.config.pow_difficulty_bits == 0 {
            return Some(0);
        }
        self.pow_nonce
    }

    /// What the driver should solve before this node can join: its key and
    /// the difficulty, while it has no solution and still wants to join.
    pub fn proof_of_work_wanted(&self) -> Option<(PublicKey, u8)> {
        let wanted = !self.joined && !self.left && self.pow_nonce_ready().is_none();
        wanted.then(|| (self.identity.public(), self.config.pow_difficulty_bits))
    }

    /// A nonce the driver solved ([`crate::identity::pow_solve`]) for this
    /// node's key; checked here, then the join goes out at once.
    pub(crate) fn accept_proof_of_work(
        &mut self,
        ctx: &mut Context<'_, Self>,
        nonce: u64,
    ) -> GossipReply {
        let (key, bits) = (self.identity.public(), self.config.pow_difficulty_bits);
        if !pow_valid(&key, nonce, bits) {
            return GossipReply::Error {
                code: 400,
                error: format!(
                    "nonce {nonce} is not a proof of work of {bits} bits for this node's key"
                ),
            };
        }
        self.pow_nonce = Some(nonce);
        if !self.joined && self.is_live() {
            self.join_round(ctx);
        }
        GossipReply::ProofOfWorkAccepted
    }

    pub(crate) fn on_join(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, join: Join) {
        match self.admit(ctx, from, &join) {
            Ok(()) => {
                self.counters.joins_admitted += 1;
                let mut updates = vec![self.my_alive()];
                updates.extend(self.sample(ctx, UPDATES_PER_MESSAGE_MAX - 1, Some(from)));
                self.send(ctx, from, GossipMessage::Welcome { updates });
                self.offer_recent(ctx, from);
            }
            Err(reason) => {
                self.counters.joins_refused += 1;
                self.last_refusal = Some(format!("refused {from}: {reason}"));
                self.send(ctx, from, GossipMessage::Refused { reason });
            }
        }
    }

    fn admit(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        join: &Join,
    ) -> Result<(), String> {
        let alive = &join.alive;
        let Fact::Alive { key, version, .. } = &alive.fact else {
            return Err("a join carries the joiner's own Alive".into());
        };
        if alive.subject != from {
            return Err(format!(
                "the join speaks for {}, but came from {from}",
                alive.subject
            ));
        }
        if !crate::compatible(*version) {
            self.counters.incompatible_versions += 1;
            return Err(Rejection::Incompatible { version: *version }.reason(from));
        }
        if !self.take_join_token(ctx.now()) {
            self.counters.joins_rate_limited += 1;
            return Err("join rate limit reached; retry later".into());
        }
        if !pow_valid(key, join.pow_nonce, self.config.pow_difficulty_bits) {
            return Err(format!(
                "proof of work below {} bits",
                self.config.pow_difficulty_bits
            ));
        }
        match self
            .membership
            .apply(alive, &self.identity.public(), ctx.now())
        {
            Ok(change) => {
                self.dissemination.push(alive.clone());
                self.on_change(ctx, change);
                Ok(())
            }
            // Already known at this incarnation or newer: a repeated join.
            Err(Rejection::Stale) => Ok(()),
            Err(rejection) => {
                let reason = rejection.reason(from);
                self.count_rejection(from, rejection);
                Err(reason)
            }
        }
    }

    /// Token bucket: `join_rate_per_sec` tokens a second, as many at most.
    fn take_join_token(&mut self, now: Duration) -> bool {
        let rate = u64::from(self.config.join_rate_per_sec);
        let elapsed_ms = now.saturating_sub(self.join_refilled_at).as_millis() as u64;
        self.join_refilled_at = now;
        self.join_tokens = (self.join_tokens + elapsed_ms.saturating_mul(rate)).min(rate * 1_000);
        if self.join_tokens < 1_000 {
            return false;
        }
        self.join_tokens -= 1_000;
        true
    }

    /// Up to `count` random members' latest updates (live ones and recent deaths).
    pub(crate) fn sample(
        &mut self,
        ctx: &mut Context<'_, Self>,
        count: usize,
        skip: Option<NodeId>,
    ) -> Vec<Update> {
        self.membership
            .iter()
            .filter(|(id, _)| Some(*id) != skip)
            .map(|(_, m)| m)
            .choose_multiple(ctx.rng(), count)
            .into_iter()
            .flat_map(|m| {
                // A suspect's or dead member's Alive lets a newcomer check the report's context.
                let mut out = vec![m.alive.clone()];
                if m.latest != m.alive {
                    out.push(m.latest.clone());
                }
                out
            })
            .take(count)
            .collect()
    }

    /// The original's network sync: a push-pull exchange with a random live
    /// member, or with the boot nodes while none is known.
    pub(crate) fn sync_round(&mut self, ctx: &mut Context<'_, Self>) {
        let target = self
            .membership
            .live()
            .choose(ctx.rng())
            .or_else(|| self.boot_nodes.iter().copied().choose(ctx.rng()));
        let Some(target) = target else {
            return;
        };
        let mut updates = vec![self.my_alive()];
        updates.extend(self.sample(ctx, UPDATES_PER_MESSAGE_MAX - 1, Some(target)));
        let sync = GossipMessage::Sync {
            updates,
            reply: true,
        };
        self.send(ctx, target, sync.clone());
        self.offer_recent(ctx, target);
        // Also a boot node, as the original did: after a long partition both
        // sides have forgotten each other, and the boot nodes bridge them.
        let boot = self
            .boot_nodes
            .iter()
            .copied()
            .filter(|b| *b != target)
            .choose(ctx.rng());
        if let Some(boot) = boot {
            self.send(ctx, boot, sync);
        }
    }

    pub(crate) fn on_sync(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        updates: &[Update],
        reply: bool,
    ) {
        self.absorb(ctx, updates);
        if reply && self.membership.get(from).is_some() {
            let mut mine = vec![self.my_alive()];
            mine.extend(self.news_for(from));
            let room = UPDATES_PER_MESSAGE_MAX - mine.len();
            mine.extend(self.sample(ctx, room, Some(from)));
            self.send(
                ctx,
                from,
                GossipMessage::Sync {
                    updates: mine,
                    reply: false,
                },
            );
            self.offer_recent(ctx, from);
        }
    }

    /// Graceful leave: a signed `Left` to every live member, then silence.
    pub(crate) fn leave(&mut self, ctx: &mut Context<'_, Self>) -> GossipReply {
        if self.left {
            return GossipReply::Left { told: 0 };
        }
        let left = Update::signed(
            &self.identity,
            self.me,
            self.incarnation,
            Fact::Left,
            self.me,
        );
        let live: Vec<NodeId> = self.membership.live().collect();
        for id in &live {
            let message = GossipMessage::Sync {
                updates: vec![left.clone()],
                reply: false,
            };
            self.send(ctx, *id, message);
        }
        self.left = true;
        GossipReply::Left { told: live.len() }
    }

    pub(crate) fn peers_view(&self, now: Duration) -> GossipReply {
        let peers = self
            .membership
            .iter()
            .map(|(id, m)| PeerView {
                id: id.0,
                key_id: m.key().key_id().to_string(),
                state: state_name(m.state).into(),
                incarnation: m.incarnation,
                address: m.address().0.clone(),
                last_heard_ms_ago: now.saturating_sub(m.last_heard).as_millis() as u64,
                beacon: m.beacon(),
            })
            .collect();
        GossipReply::Peers { peers }
    }
}
