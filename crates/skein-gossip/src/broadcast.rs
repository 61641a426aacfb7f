//! Broadcast on the Plumtree (see `plumtree.rs` for the state and the
//! diagram): originating, forwarding, IHAVE/GRAFT/PRUNE, exactly-once
//! delivery to the application, and beacon reports.

use crate::api::{DeliveredMessage, GossipReply, TraceView, PAGE_MAX};
use crate::message::{Broadcast, GossipMessage, MessageId, HOPS_MAX, IDS_PER_MESSAGE_MAX};
use crate::node::Gossip;
use crate::plumtree::SeenId;
use rand::seq::IteratorRandom;
use skein_core::{Context, NodeId};

impl Gossip {
    pub(crate) fn broadcast(
        &mut self,
        ctx: &mut Context<'_, Self>,
        payload: Vec<u8>,
    ) -> GossipReply {
        if self.left {
            return GossipReply::Error {
                code: 409,
                error: "this node has left the overlay".into(),
            };
        }
        if payload.len() > self.config.payload_bytes_max {
            return GossipReply::Error {
                code: 413,
                error: format!(
                    "payload of {} bytes is over payload_bytes_max = {}",
                    payload.len(),
                    self.config.payload_bytes_max
                ),
            };
        }
        let Some(stamp) = crate::floors::stamp(self.boots, self.broadcasts_made + 1) else {
            return GossipReply::Error {
                code: 503,
                error: "this boot has used up its broadcast stamps; restart the node".into(),
            };
        };
        self.broadcasts_made += 1;
        let nonce = ctx.rng().next_u64();
        let message = Broadcast::new(&self.identity, self.me, (stamp, nonce), payload);
        let id = message.id;
        if self.plumtree.seen(id) {
            return GossipReply::Error {
                code: 409,
                error: format!("message {id} was already sent"),
            };
        }
        self.deliver_and_forward(ctx, None, message, 0);
        GossipReply::Broadcasted { id: id.to_string() }
    }

    pub(crate) fn on_gossip(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        message: Broadcast,
        hops: u16,
    ) {
        if self.plumtree.seen(message.id) {
            // Plumtree: a second copy means the link from `from` is redundant.
            self.counters.duplicates += 1;
            if self.plumtree.eager.contains(&from) {
                self.plumtree.make_lazy(from);
                self.send(ctx, from, GossipMessage::Prune);
            }
            return;
        }
        if self.plumtree.stale(&message) {
            // Delivered here and forgotten by the seen-cache (or older
            // than such a one): a leftover copy, never a second delivery.
            self.counters.stale_rejects += 1;
            self.plumtree.forget_missing(message.id);
            return;
        }
        let bound = self.membership.bindings().get(&message.origin).copied();
        let key_ok = match bound {
            Some(key) => key == message.key,
            None => message.origin != self.me,
        };
        if !key_ok || !message.verifies() {
            self.counters.signature_rejects += 1;
            return;
        }
        self.deliver_and_forward(ctx, Some(from), message, hops);
    }

    fn deliver_and_forward(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: Option<NodeId>,
        message: Broadcast,
        hops: u16,
    ) {
        let id = message.id;
        let delivered = SeenId {
            id,
            origin_stamp: Some((message.origin, message.stamp)),
        };
        let forward = hops < HOPS_MAX;
        let copy = forward.then(|| message.clone());
        let seq = self.plumtree.deliver(message, hops, ctx.now(), from);
        self.persist_delivery(ctx, delivered, seq);
        self.report_to_beacons(ctx, id, hops);
        if let Some(from) = from {
            self.plumtree.make_eager(from);
        }
        // A message pulled from an offer is old news to everyone else.
        let Some(message) = copy.filter(|_| !self.plumtree.was_offered(id)) else {
            return;
        };
        let eager: Vec<NodeId> = self
            .plumtree
            .eager
            .iter()
            .copied()
            .filter(|p| Some(*p) != from)
            .collect();
        for peer in eager {
            self.send(
                ctx,
                peer,
                GossipMessage::Gossip {
                    message: message.clone(),
                    hops: hops + 1,
                },
            );
        }
        let mut lazy: Vec<NodeId> = self
            .plumtree
            .lazy
            .iter()
            .copied()
            .filter(|p| Some(*p) != from)
            .collect();
        let tree = &self.plumtree;
        let extra = self
            .membership
            .live()
            .filter(|p| Some(*p) != from && !tree.eager.contains(p) && !tree.lazy.contains(p))
            .choose_multiple(ctx.rng(), self.config.lazy_fanout);
        lazy.extend(extra);
        for peer in lazy {
            self.plumtree.queue_ihave(peer, id, hops + 1);
        }
    }

    fn report_to_beacons(&mut self, ctx: &mut Context<'_, Self>, id: MessageId, hops: u16) {
        if self.config.beacon {
            self.traces.record(id, self.me, ctx.now(), hops);
        }
        let beacons: Vec<NodeId> = self
            .membership
            .iter()
            .filter(|(_, m)| m.state.is_live() && m.beacon())
            .map(|(id, _)| id)
            .take(crate::node::BEACONS_MAX)
            .collect();
        for beacon in beacons {
            self.send(ctx, beacon, GossipMessage::Delivered { id, hops });
        }
    }

    pub(crate) fn on_ihave(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        ids: &[(MessageId, u16)],
    ) {
        let graft_at = ctx.now() + self.config.graft_timeout();
        for &(id, hops) in ids {
            if !self.plumtree.seen(id) {
                self.plumtree.announced(id, from, graft_at);
                continue;
            }
            // Already delivered, but `from` is much closer to the origin
            // than our eager parent: make it the parent instead, so the
            // tree's depth shrinks toward the shortest paths.
            if let Some(parent) = self.plumtree.shortcut(id, from, hops) {
                self.plumtree.make_eager(from);
                self.send(ctx, from, GossipMessage::Graft { ids: Vec::new() });
                self.plumtree.make_lazy(parent);
                self.send(ctx, parent, GossipMessage::Prune);
                self.counters.tree_shortcuts += 1;
            }
        }
    }

    pub(crate) fn on_graft(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        ids: &[MessageId],
    ) {
        self.plumtree.make_eager(from);
        for id in ids {
            let Some(stored) = self.plumtree.find(*id) else {
                continue;
            };
            let message = GossipMessage::Gossip {
                message: stored.message.clone(),
                hops: stored.hops.saturating_add(1),
            };
            self.send(ctx, from, message);
        }
    }

    pub(crate) fn graft_round(&mut self, ctx: &mut Context<'_, Self>) {
        let retry = self.config.graft_timeout() / 2;
        for (peer, ids) in self.plumtree.due_grafts(ctx.now(), retry) {
            self.plumtree.make_eager(peer);
            for chunk in ids.chunks(IDS_PER_MESSAGE_MAX) {
                self.counters.grafts_sent += 1;
                let ids = chunk.to_vec();
                self.send(ctx, peer, GossipMessage::Graft { ids });
            }
        }
    }

    /// Anti-entropy: offers `peer` the ids of messages this node got by
    /// the ordinary spread within `anti_entropy_window`, on join and on
    /// each peer sync. What `peer` has not seen it grafts, so a node that
    /// joined (or came back) after a broadcast still delivers it, once.
    /// Pulled messages are neither spread on nor offered again, so a
    /// message stops circulating one window after it spread, before the
    /// seen-caches forget it.
    pub(crate) fn offer_recent(&mut self, ctx: &mut Context<'_, Self>, peer: NodeId) {
        let since = ctx.now().saturating_sub(self.config.anti_entropy_window());
        let ids = self.plumtree.offerable(since, IDS_PER_MESSAGE_MAX);
        if !ids.is_empty() {
            self.send(ctx, peer, GossipMessage::Offer { ids });
        }
    }

    pub(crate) fn on_offer(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        ids: &[MessageId],
    ) {
        // Graft at the next tick: an offer is not racing an eager copy.
        for &id in ids {
            self.plumtree.offered(id, from, ctx.now());
        }
    }

    pub(crate) fn flush_ihaves(&mut self, ctx: &mut Context<'_, Self>) {
        for (peer, ids) in self.plumtree.drain_ihaves() {
            self.send(ctx, peer, GossipMessage::IHave { ids });
        }
    }

    pub(crate) fn messages_page(&self, after: u64, limit: usize) -> GossipReply {
        let limit = limit.clamp(1, PAGE_MAX);
        let messages: Vec<DeliveredMessage> = self
            .plumtree
            .visible_after(after, limit)
            .map(|s| DeliveredMessage {
                seq: s.seq,
                id: s.message.id.to_string(),
                origin: s.message.origin.0,
                payload: String::from_utf8_lossy(&s.message.payload).into_owned(),
                hops: s.hops,
                delivered_ms: s.delivered_at.as_millis() as u64,
            })
            .collect();
        let next_after = messages.last().map_or(after, |m| m.seq);
        GossipReply::Messages {
            messages,
            next_after,
        }
    }

    pub(crate) fn trace_view(&self, id: &str) -> GossipReply {
        if !self.config.beacon {
            return GossipReply::Error {
                code: 409,
                error: "this node is not a beacon; start one with --set beacon=true and ask it"
                    .into(),
            };
        }
        let Ok(message_id) = id.parse::<MessageId>() else {
            return GossipReply::Error {
                code: 400,
                error: format!("{id:?} is not a message id (16 hex digits)"),
            };
        };
        let Some(reports) = self.traces.get(message_id) else {
            return GossipReply::Error {
                code: 404,
                error: format!(
                    "no reports of message {id} (the beacon keeps the last {})",
                    self.config.traces_max
                ),
            };
        };
        let first = reports
            .values()
            .map(|(at, _)| *at)
            .min()
            .unwrap_or_default();
        let mut rows: Vec<(u16, u64, u16)> = reports
            .iter()
            .map(|(node, (at, hops))| (node.0, at.saturating_sub(first).as_millis() as u64, *hops))
            .collect();
        rows.sort_by_key(|(node, ms, _)| (*ms, *node));
        GossipReply::Trace(TraceView {
            id: message_id.to_string(),
            nodes: rows.len(),
            reports: rows,
        })
    }
}
