//! Garbage collection of stale copies and old tombstones, one bounded
//! round every `gc_ticks` ticks, at most one round in flight:
//!
//! ```text
//! next key k after the cursor (ring order) ─▶ lookup(k) ─▶ replicas R (r nodes)
//! keys in [k, R[0]] share R; take at most batch_bytes_max of them
//!   me ∉ R  ─▶ Replicate(ack) to every node of R ─▶ all acked complete
//!              ─▶ drop each key still at the version sent        (stale copies)
//!   me = R[0] and tombstones older than tombstone_ttl_ms
//!           ─▶ Replicate(ack) to R[1..] ─▶ all acked complete
//!              ─▶ drop them here, Forget(key, version) to R[1..] (tombstones)
//!   otherwise (a replica, not the owner) ─▶ nothing
//! ```
//! A copy is dropped only after every current replica said it holds that
//! version or a newer one, so collection never lowers a key below r
//! copies, whatever the lookup got wrong during churn. A round whose
//! replicas do not all answer within `op_timeout_ms` is abandoned and the
//! copies kept.
//!
//! Tombstones: once dropped, a key no longer remembers its delete; a stale
//! live copy that reaches a replica later (a node back from a downtime
//! longer than `tombstone_ttl_ms`) brings the key back, as in Cassandra
//! past `gc_grace_seconds`. The TTL must exceed the longest downtime after
//! which a node may restart with its data.

use crate::lookup::{LookupEnd, Purpose};
use crate::message::{Body, Item, NodeRef, Version};
use crate::node::Dht;
use crate::persist::StoreKind;
use crate::ring::RingId;
use skein_core::{Context, NodeId};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct GcRound {
    /// The ack id of the round's `Replicate` messages.
    pub ack: u64,
    pub since: Duration,
    pub phase: GcPhase,
}

#[derive(Clone, Debug)]
pub enum GcPhase {
    /// Looking up the replicas of the key at `from`.
    Lookup { from: RingId },
    /// Waiting for `waiting` to confirm they hold `keys`.
    HandingOver {
        waiting: BTreeSet<NodeId>,
        keys: Vec<(String, Version)>,
        /// Tombstones: the replicas told to forget them once all hold them.
        forget_at: Vec<NodeRef>,
        tombstones: bool,
    },
}

impl Dht {
    pub(crate) fn gc_round(&mut self, ctx: &mut Context<'_, Self>) {
        if let Some(round) = &self.gc {
            if self.now.saturating_sub(round.since) < self.cfg.op_timeout() {
                return;
            }
            self.gc = None;
            self.counters.gc_rounds_abandoned += 1;
        }
        let Some((from, _)) = self.network.first_in_ring_from(self.gc_cursor) else {
            return;
        };
        let ack = self.fresh_id();
        self.gc = Some(GcRound {
            ack,
            since: self.now,
            phase: GcPhase::Lookup { from },
        });
        self.start_lookup(ctx, from, Purpose::Gc, None);
    }

    pub(crate) fn gc_lookup_ended(&mut self, ctx: &mut Context<'_, Self>, end: LookupEnd) {
        let Some(GcRound {
            ack,
            phase: GcPhase::Lookup { from },
            ..
        }) = self.gc.clone()
        else {
            return;
        };
        let LookupEnd::Found { nodes, .. } = end else {
            // Skip the key this time, so one unreachable range cannot stall the cursor.
            self.gc_cursor = from.add_pow2(0);
            self.gc = None;
            return;
        };
        let replicas: Vec<NodeRef> = nodes
            .into_iter()
            .take(usize::from(self.cfg.replicas))
            .collect();
        let owner = replicas[0].ring;
        let items = self.network.ring_arc(from, owner, self.cfg.batch_bytes_max);
        if let Some((last, _)) = items.last() {
            self.gc_cursor = last.add_pow2(0);
        }
        let me = self.routing.me.id;
        let items: Vec<Item> = items.into_iter().map(|(_, i)| i).collect();
        if replicas.iter().all(|n| n.id != me) {
            self.hand_over(ctx, ack, replicas, items, false);
        } else if replicas[0].id == me {
            let ttl = Duration::from_millis(self.cfg.tombstone_ttl_ms);
            let old: Vec<Item> = items
                .into_iter()
                .filter(|i| i.value.is_none())
                .filter(|i| {
                    self.network
                        .stored_at(&i.key)
                        .is_some_and(|at| self.now.saturating_sub(at) >= ttl)
                })
                .collect();
            self.hand_over(ctx, ack, replicas[1..].to_vec(), old, true);
        } else {
            self.gc = None;
        }
    }

    /// Sends `items` to `to` and waits for all to hold them; with nobody
    /// to wait for (a ring of one), drops them at once.
    fn hand_over(
        &mut self,
        ctx: &mut Context<'_, Self>,
        ack: u64,
        to: Vec<NodeRef>,
        items: Vec<Item>,
        tombstones: bool,
    ) {
        if items.is_empty() || (to.is_empty() && !tombstones) {
            self.gc = None;
            return;
        }
        let keys: Vec<(String, Version)> =
            items.iter().map(|i| (i.key.clone(), i.version)).collect();
        for node in &to {
            let body = Body::Replicate {
                items: items.clone(),
                ack: Some(ack),
            };
            self.send(ctx, node, body);
        }
        let forget_at = if tombstones { to.clone() } else { Vec::new() };
        let waiting: BTreeSet<NodeId> = to.iter().map(|n| n.id).collect();
        self.gc = Some(GcRound {
            ack,
            since: self.now,
            phase: GcPhase::HandingOver {
                waiting,
                keys,
                forget_at,
                tombstones,
            },
        });
        self.maybe_finish_gc(ctx);
    }

    pub(crate) fn on_gc_ack(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        ack: u64,
        complete: bool,
    ) {
        let Some(GcRound {
            ack: expected,
            phase: GcPhase::HandingOver { waiting, .. },
            ..
        }) = &mut self.gc
        else {
            return;
        };
        if *expected != ack || !waiting.contains(&sender) {
            return;
        }
        if !complete {
            // Its store is full: it does not hold them, so we keep ours.
            self.gc = None;
            self.counters.gc_rounds_abandoned += 1;
            return;
        }
        waiting.remove(&sender);
        self.maybe_finish_gc(ctx);
    }

    fn maybe_finish_gc(&mut self, ctx: &mut Context<'_, Self>) {
        let done = matches!(&self.gc, Some(GcRound { phase: GcPhase::HandingOver { waiting, .. }, .. }) if waiting.is_empty());
        if !done {
            return;
        }
        let Some(GcRound {
            phase:
                GcPhase::HandingOver {
                    keys,
                    forget_at,
                    tombstones,
                    ..
                },
            ..
        }) = self.gc.take()
        else {
            return;
        };
        for (key, version) in &keys {
            if self.store_remove(StoreKind::Network, key, Some(*version)) {
                if tombstones {
                    self.counters.tombstones_dropped += 1;
                } else {
                    self.counters.copies_dropped += 1;
                }
            }
        }
        for node in forget_at {
            let body = Body::Forget { keys: keys.clone() };
            self.send(ctx, &node, body);
        }
    }

    /// The responsible node dropped these tombstones; drop ours if they are
    /// still at those versions (a newer write since then stays).
    pub(crate) fn on_forget(&mut self, sender: NodeId, keys: Vec<(String, Version)>) {
        let _ = sender;
        for (key, version) in keys {
            let tombstone = self.network.get(&key).is_some_and(|i| i.value.is_none());
            if tombstone
                && !self.routing.owns(RingId::of_key(&key))
                && self.store_remove(StoreKind::Network, &key, Some(version))
            {
                self.counters.tombstones_dropped += 1;
            }
        }
    }
}
