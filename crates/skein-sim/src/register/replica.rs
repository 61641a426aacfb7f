//! The replica half of a register node: the stored (timestamp, value) per
//! key, its durability, and acks that wait until the disk has synced.

use super::{
    Record, Register, RegisterMessage, Ts, ACKS_WAITING_MAX, KEYS_MAX, RECORDS_BEFORE_SNAPSHOT,
};
use skein_core::{codec, Context, NodeId, StorageWrite};
use std::collections::BTreeMap;

/// Largest record: a snapshot of every key.
pub(super) const RECORD_BYTES_MAX: usize = 64 * KEYS_MAX;

/// Rebuilds the store from durable records; torn or garbled ones are skipped
/// (a crash may tear the last append).
pub(super) fn replay(records: &[Vec<u8>]) -> BTreeMap<u64, (Ts, Option<u64>)> {
    let mut store = BTreeMap::new();
    for bytes in records {
        match codec::decode::<Record>(bytes, RECORD_BYTES_MAX) {
            Ok(Record::Snapshot(entries)) => {
                store = entries.into_iter().map(|(k, ts, v)| (k, (ts, v))).collect();
            }
            Ok(Record::Store { key, ts, value }) => {
                let entry = store.entry(key).or_insert((Ts::default(), None));
                if ts > entry.0 {
                    *entry = (ts, value);
                }
            }
            Err(_) => {}
        }
    }
    store
}

impl Register {
    pub(super) fn local_read(&self, key: u64) -> (Ts, Option<u64>) {
        self.store.get(&key).copied().unwrap_or_default()
    }

    /// Stores `value` at `ts` if newer, then acks once everything this
    /// replica holds is durable — an ack promises the value survives a crash.
    pub(super) fn on_store(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        op: u64,
        key: u64,
        ts: Ts,
        value: Option<u64>,
    ) {
        let current = self.local_read(key).0;
        if ts > current && (self.store.len() < KEYS_MAX || self.store.contains_key(&key)) {
            self.store.insert(key, (ts, value));
            self.persist(ctx, Record::Store { key, ts, value });
        }
        let needed = self.next_token - 1;
        if needed <= self.durable_token {
            self.ack(ctx, from, op);
        } else if self.acks_waiting.len() < ACKS_WAITING_MAX {
            self.acks_waiting.push_back((needed, from, op));
        }
    }

    fn persist(&mut self, ctx: &mut Context<'_, Self>, record: Record) {
        self.records_since_snapshot += 1;
        let write = if self.records_since_snapshot > RECORDS_BEFORE_SNAPSHOT {
            self.records_since_snapshot = 0;
            let entries = self.store.iter().map(|(&k, &(ts, v))| (k, ts, v)).collect();
            StorageWrite::Replace(
                codec::encode(&Record::Snapshot(entries), RECORD_BYTES_MAX).expect("bounded"),
            )
        } else {
            StorageWrite::Append(codec::encode(&record, RECORD_BYTES_MAX).expect("bounded"))
        };
        ctx.persist(self.next_token, write);
        self.next_token += 1;
    }

    pub(super) fn on_persisted(&mut self, ctx: &mut Context<'_, Self>, token: u64) {
        self.durable_token = self.durable_token.max(token);
        while self
            .acks_waiting
            .front()
            .is_some_and(|(needed, _, _)| *needed <= self.durable_token)
        {
            let (_, to, op) = self.acks_waiting.pop_front().expect("checked non-empty");
            self.ack(ctx, to, op);
        }
    }

    fn ack(&mut self, ctx: &mut Context<'_, Self>, to: NodeId, op: u64) {
        if to == self.id {
            self.on_store_ack(ctx, self.id, op);
        } else {
            ctx.send(to, RegisterMessage::StoreAck { op });
        }
    }
}
