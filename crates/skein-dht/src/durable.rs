//! The node's side of persistence ([`crate::persist`] has the format):
//! every change to a store goes through [`Dht::store_merge`] or
//! [`Dht::store_remove`], which queue a record; the step's records go out
//! as one `Append` when the step ends ([`Dht::flush_log`]); boot replays
//! the log.

use crate::message::{Item, Version};
use crate::node::Dht;
use crate::persist::{
    Record, SavedRouting, Snapshot, StoreKind, COMPACT_RECORDS_MIN, ROUTING_SAVE_TICKS,
    SNAPSHOT_BYTES_MAX,
};
use crate::request::Reply;
use crate::store::{Merge, Store};
use skein_core::{Context, RequestId, StorageWrite};
use std::time::Duration;

impl Dht {
    /// Replays persisted records (boot). Returns whether they held routing
    /// state, in which case the node starts as a member from it.
    pub(crate) fn restore(&mut self, records: &[Vec<u8>], now: Duration) -> bool {
        let mut routing: Option<SavedRouting> = None;
        for record in records.iter().filter_map(|r| Record::decode(r)) {
            self.replay(record, now, &mut routing);
        }
        let Some(routing) = routing else {
            return false;
        };
        routing.apply_to(&mut self.routing);
        self.saved_routing = SavedRouting::of(&self.routing);
        !self.routing.successors.is_empty()
    }

    fn replay(&mut self, record: Record, now: Duration, routing: &mut Option<SavedRouting>) {
        match record {
            Record::Snapshot(s) => {
                self.network.clear();
                self.local.clear();
                for item in s.network {
                    self.restore_item(StoreKind::Network, item, now);
                }
                for item in s.local {
                    self.restore_item(StoreKind::Local, item, now);
                }
                self.lamport = self.lamport.max(s.lamport);
                *routing = Some(s.routing);
            }
            Record::Put { store, item } => self.restore_item(store, item, now),
            Record::Remove { store, key } => {
                self.store_of(store).remove(&key);
            }
            Record::Routing(r) => *routing = Some(r),
            Record::Left => {
                self.network.clear();
                *routing = None;
            }
            Record::Batch(records) => {
                // Batches are written flat; a nested one is not ours.
                for record in records {
                    if !matches!(record, Record::Batch(_)) {
                        self.replay(record, now, routing);
                    }
                }
            }
        }
    }

    fn restore_item(&mut self, store: StoreKind, item: Item, now: Duration) {
        self.lamport = self.lamport.max(item.version.counter);
        // Refused only past keys_max, which a log this node wrote never
        // reaches unless keys_max was lowered since: the excess is dropped.
        let _ = self.store_of(store).merge(item, now);
    }

    fn store_of(&mut self, store: StoreKind) -> &mut Store {
        match store {
            StoreKind::Network => &mut self.network,
            StoreKind::Local => &mut self.local,
        }
    }

    /// Merges `item` into a store and, if it was applied, logs it.
    /// Returns the merge outcome and whether anything was logged.
    pub(crate) fn store_merge(&mut self, store: StoreKind, item: Item) -> (Merge, bool) {
        let now = self.now;
        let record = Record::Put {
            store,
            item: item.clone(),
        };
        let merge = self.store_of(store).merge(item, now);
        let applied = merge == Merge::Applied;
        if applied {
            self.unlogged.push(record);
        }
        (merge, applied)
    }

    /// Removes `key` outright (if `version` is given, only at that version)
    /// and logs it. Returns whether anything was removed.
    pub(crate) fn store_remove(
        &mut self,
        store: StoreKind,
        key: &str,
        version: Option<Version>,
    ) -> bool {
        let removed = match version {
            Some(v) => self.store_of(store).remove_if_version(key, v),
            None => self.store_of(store).remove(key).is_some(),
        };
        if removed {
            let key = key.to_string();
            self.unlogged.push(Record::Remove { store, key });
        }
        removed
    }

    /// A graceful leave forgets the network store and the ring.
    pub(crate) fn log_left(&mut self) {
        self.saved_routing = SavedRouting::default();
        self.unlogged.push(Record::Left);
    }

    /// End of a step: this step's changes as one `Append`.
    pub(crate) fn flush_log(&mut self, ctx: &mut Context<'_, Self>) {
        if self.unlogged.is_empty() {
            return;
        }
        let mut records = std::mem::take(&mut self.unlogged);
        self.records_since_snapshot += records.len() as u64;
        let record = match records.len() {
            1 => records.pop().expect("one record"),
            _ => Record::Batch(records),
        };
        self.persist_token += 1;
        ctx.persist(self.persist_token, StorageWrite::Append(record.encode()));
        self.maybe_compact(ctx);
    }

    /// Replaces the log with one snapshot once it holds more than twice as
    /// many records as there are items (see `persist.rs`).
    fn maybe_compact(&mut self, ctx: &mut Context<'_, Self>) {
        let items = (self.network.len() + self.local.len()) as u64;
        if self.records_since_snapshot < COMPACT_RECORDS_MIN.max(2 * items) {
            return;
        }
        let snapshot = Snapshot {
            network: self.network.iter().map(|(_, i)| i.clone()).collect(),
            local: self.local.iter().map(|(_, i)| i.clone()).collect(),
            lamport: self.lamport,
            routing: SavedRouting::of(&self.routing),
        };
        let bytes = snapshot.encode();
        self.records_since_snapshot = 0;
        if bytes.len() > SNAPSHOT_BYTES_MAX {
            self.counters.snapshots_skipped += 1;
            return;
        }
        self.persist_token += 1;
        ctx.persist(self.persist_token, StorageWrite::Replace(bytes));
        self.saved_routing = snapshot.routing;
        self.counters.snapshots_written += 1;
    }

    /// Every `ROUTING_SAVE_TICKS` ticks: log the routing state if it changed.
    pub(crate) fn save_routing_tick(&mut self) {
        if self.ticks % ROUTING_SAVE_TICKS != 0 {
            return;
        }
        let now = SavedRouting::of(&self.routing);
        if now != self.saved_routing {
            self.unlogged.push(Record::Routing(now.clone()));
            self.saved_routing = now;
        }
    }

    /// Answers `request` once this step's log record is durable (at once
    /// if nothing was `logged`); past `pending_ops_max` waiting, at once.
    pub(crate) fn reply_when_durable(
        &mut self,
        ctx: &mut Context<'_, Self>,
        logged: bool,
        request: RequestId,
        reply: Reply,
    ) {
        let waiting: usize = self.durable_replies.values().map(Vec::len).sum();
        if logged && waiting < self.cfg.pending_ops_max {
            // The record this step flushes gets the next token.
            let token = self.persist_token + 1;
            let replies = self.durable_replies.entry(token).or_default();
            replies.push((request, reply));
        } else {
            ctx.reply(request, reply);
        }
    }

    pub(crate) fn on_persisted(&mut self, ctx: &mut Context<'_, Self>, token: u64) {
        // Writes become durable in order, so every earlier one is too.
        let done: Vec<u64> = self
            .durable_replies
            .range(..=token)
            .map(|(t, _)| *t)
            .collect();
        for t in done {
            for (request, reply) in self.durable_replies.remove(&t).unwrap_or_default() {
                ctx.reply(request, reply);
            }
        }
    }
}
