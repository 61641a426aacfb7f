//! Keeping r copies of every key as the ring changes. Nothing is tracked
//! per key; instead every few ticks each node pushes a round-robin batch of
//! what it holds (bounded by `batch_bytes_max`):
//! * keys it is responsible for go to its r-1 successors (re-replication
//!   after a crash or join shifted the replica set);
//! * keys it is not responsible for go to its predecessor, so a node that
//!   joined in front of us, or a successor that took over a crashed
//!   primary's range, ends up with them.
//!
//! Receivers merge by version (LWW), so repeats are harmless. Copies left on
//! nodes no longer among the r replicas are collected by `gc.rs`.

use crate::message::{Body, Item, NodeRef};
use crate::node::Dht;
use crate::persist::StoreKind;
use crate::store::Merge;
use skein_core::Context;

impl Dht {
    pub(crate) fn replicate_round(&mut self, ctx: &mut Context<'_, Self>) {
        if self.network.is_empty() || self.routing.successors.is_empty() {
            return;
        }
        let batch = self
            .network
            .batch_from(&self.replicate_cursor, self.cfg.batch_bytes_max);
        if let Some((_, last)) = batch.last() {
            self.replicate_cursor = last.key.clone();
        }
        let (mine, theirs): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|(ring, _)| self.routing.owns(*ring));
        let mine: Vec<Item> = mine.into_iter().map(|(_, i)| i).collect();
        let theirs: Vec<Item> = theirs.into_iter().map(|(_, i)| i).collect();
        if !mine.is_empty() {
            let replicas: Vec<NodeRef> = self
                .routing
                .successors
                .iter()
                .take(usize::from(self.cfg.replicas) - 1)
                .cloned()
                .collect();
            for node in replicas {
                self.push(ctx, &node, mine.clone());
            }
        }
        if let Some(pred) = self.routing.predecessor.clone() {
            if !theirs.is_empty() {
                self.push(ctx, &pred, theirs);
            }
        }
    }

    fn push(&mut self, ctx: &mut Context<'_, Self>, to: &NodeRef, items: Vec<Item>) {
        self.counters.items_pushed += items.len() as u64;
        self.send(ctx, to, Body::Replicate { items, ack: None });
    }

    /// A new predecessor: hand it what now falls in its range at once,
    /// rather than waiting for the replication rounds to get there.
    pub(crate) fn handoff_to_predecessor(&mut self, ctx: &mut Context<'_, Self>) {
        let Some(pred) = self.routing.predecessor.clone() else {
            return;
        };
        let theirs: Vec<Item> = self
            .network
            .iter()
            .filter(|(ring, _)| !self.routing.owns(*ring))
            .map(|(_, i)| i.clone())
            .collect();
        self.send_in_batches(ctx, &pred, theirs);
    }

    /// Graceful leave: everything to the successor, in bounded batches.
    pub(crate) fn hand_over_everything(&mut self, ctx: &mut Context<'_, Self>, to: &NodeRef) {
        let items: Vec<Item> = self.network.iter().map(|(_, i)| i.clone()).collect();
        self.send_in_batches(ctx, to, items);
    }

    fn send_in_batches(&mut self, ctx: &mut Context<'_, Self>, to: &NodeRef, items: Vec<Item>) {
        let mut batch = Vec::new();
        let mut bytes = 0;
        for item in items {
            if !batch.is_empty() && bytes + item.bytes() > self.cfg.batch_bytes_max {
                self.push(ctx, to, std::mem::take(&mut batch));
                bytes = 0;
            }
            bytes += item.bytes();
            batch.push(item);
        }
        if !batch.is_empty() {
            self.push(ctx, to, batch);
        }
    }

    pub(crate) fn on_replicate(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeRef,
        items: Vec<Item>,
        ack: Option<u64>,
    ) {
        let mut complete = true;
        for item in items {
            self.lamport = self.lamport.max(item.version.counter);
            match self.store_merge(StoreKind::Network, item).0 {
                Merge::Applied => self.counters.items_received += 1,
                Merge::Stale => {}
                Merge::Full => {
                    self.counters.items_refused_full += 1;
                    complete = false;
                }
            }
        }
        if let Some(ack) = ack {
            self.send(ctx, &sender, Body::ReplicateAck { ack, complete });
        }
    }
}
