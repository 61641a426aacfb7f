//! Client operations on the network store, local-store requests, and the
//! responsible node's side of a write.
//!
//! ```text
//! client ─Put─▶ origin ──lookup──▶ responsible P ──Write──▶ P assigns version,
//!                                      stores, Replicate(ack) ─▶ r-1 successors
//! client ◀─Stored(version, replicas)── origin ◀─WriteDone── P (all acked or timeout)
//! Get: origin looks up, Reads from the r replicas, answers the highest version.
//! ```
//! The responsible node assigns versions (its Lamport clock, above the
//! stored version), so writes that reach one primary are ordered as they
//! arrive; two primaries during churn tie-break by writer id (`Version`).

use crate::lookup::{LookupEnd, Purpose};
use crate::message::{Body, Item, NodeRef, Version, WriteOutcome};
use crate::node::{Dht, NodeState};
use crate::persist::StoreKind;
use crate::request::{DhtError, LookupResult, Reply, Request};
use crate::ring::RingId;
use crate::store::Merge;
use skein_core::{Context, NodeId, RequestId};
use std::collections::BTreeSet;
use std::time::Duration;

/// A write reaching a new primary mid-churn is retried at most this often.
const WRITE_ATTEMPTS_MAX: u32 = 4;

#[derive(Clone, Debug)]
pub enum OpKind {
    Put { key: String, value: Vec<u8> },
    Delete { key: String },
    Get { key: String },
    Lookup { key: String },
}

impl OpKind {
    fn key(&self) -> &str {
        match self {
            OpKind::Put { key, .. }
            | OpKind::Delete { key }
            | OpKind::Get { key }
            | OpKind::Lookup { key } => key,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Phase {
    Lookup,
    /// The responsible node said no; look up again on the next tick.
    RetryLookup,
    Writing {
        to: NodeId,
    },
    Reading {
        waiting: BTreeSet<NodeId>,
        best: Option<Item>,
        answered: u32,
    },
}

#[derive(Clone, Debug)]
pub struct ClientOp {
    pub request: RequestId,
    pub kind: OpKind,
    pub phase: Phase,
    pub deadline: Duration,
    pub attempts: u32,
}

/// At the responsible node: a write waiting for its replicas' acks.
#[derive(Clone, Debug)]
pub struct PrimaryWrite {
    pub origin: NodeRef,
    pub op: u64,
    pub version: Version,
    pub existed: bool,
    pub waiting: BTreeSet<NodeId>,
    pub replicas: u8,
    pub deadline: Duration,
}

impl Dht {
    pub(crate) fn start_op(
        &mut self,
        ctx: &mut Context<'_, Self>,
        request: RequestId,
        req: Request,
    ) {
        let kind = match req {
            Request::Put { key, value } => OpKind::Put { key, value },
            Request::Delete { key } => OpKind::Delete { key },
            Request::Get { key } => OpKind::Get { key },
            Request::Lookup { key } => OpKind::Lookup { key },
            other => unreachable!("{other:?} is answered in node.rs"),
        };
        let value = match &kind {
            OpKind::Put { value, .. } => Some(value.as_slice()),
            _ => None,
        };
        if let Err(e) = self.item_fits(kind.key(), value) {
            return ctx.reply(request, Reply::Error(e));
        }
        if self.state != NodeState::Member {
            return ctx.reply(request, Reply::Error(DhtError::NotJoined));
        }
        if self.ops.len() >= self.cfg.pending_ops_max {
            let pending = self.ops.len();
            return ctx.reply(request, Reply::Error(DhtError::Busy { pending }));
        }
        let op = self.fresh_id();
        let key = RingId::of_key(kind.key());
        let deadline = self.now + self.cfg.op_timeout();
        self.ops.insert(
            op,
            ClientOp {
                request,
                kind,
                phase: Phase::Lookup,
                deadline,
                attempts: 0,
            },
        );
        self.start_lookup(ctx, key, Purpose::Op(op), None);
    }

    pub(crate) fn op_lookup_ended(&mut self, ctx: &mut Context<'_, Self>, op: u64, end: LookupEnd) {
        let Some(entry) = self.ops.get(&op) else {
            return;
        };
        let (nodes, hops) = match end {
            LookupEnd::Found { nodes, hops } => (nodes, hops),
            LookupEnd::Failed(why) => {
                return self.finish_op(ctx, op, Reply::Error(DhtError::LookupFailed { why }))
            }
        };
        let responsible = nodes[0].clone();
        match entry.kind.clone() {
            OpKind::Lookup { key } => {
                let result = LookupResult {
                    key_ring: RingId::of_key(&key).to_hex(),
                    key,
                    node: responsible,
                    hops,
                };
                self.finish_op(ctx, op, Reply::Lookup(result));
            }
            OpKind::Put { key, value } => self.send_write(ctx, op, &responsible, key, Some(value)),
            OpKind::Delete { key } => self.send_write(ctx, op, &responsible, key, None),
            OpKind::Get { key } => {
                let replicas: Vec<NodeRef> = nodes
                    .into_iter()
                    .take(usize::from(self.cfg.replicas))
                    .collect();
                if let Some(entry) = self.ops.get_mut(&op) {
                    entry.phase = Phase::Reading {
                        waiting: replicas.iter().map(|n| n.id).collect(),
                        best: None,
                        answered: 0,
                    };
                }
                for node in replicas {
                    let body = Body::Read {
                        op,
                        key: key.clone(),
                    };
                    self.send(ctx, &node, body);
                }
            }
        }
    }

    fn send_write(
        &mut self,
        ctx: &mut Context<'_, Self>,
        op: u64,
        to: &NodeRef,
        key: String,
        value: Option<Vec<u8>>,
    ) {
        if let Some(entry) = self.ops.get_mut(&op) {
            entry.phase = Phase::Writing { to: to.id };
        }
        self.send(ctx, to, Body::Write { op, key, value });
    }

    /// The responsible node stores a write at a new version and replicates it.
    pub(crate) fn on_write(
        &mut self,
        ctx: &mut Context<'_, Self>,
        origin: NodeRef,
        op: u64,
        key: String,
        value: Option<Vec<u8>>,
    ) {
        if !self.routing.owns(RingId::of_key(&key)) {
            let outcome = WriteOutcome::NotResponsible;
            return self.send(ctx, &origin, Body::WriteDone { op, outcome });
        }
        let stored = self.network.get(&key);
        let existed = stored.is_some_and(|i| i.value.is_some());
        let counter = self.lamport.max(stored.map_or(0, |i| i.version.counter)) + 1;
        self.lamport = counter;
        let version = Version {
            counter,
            writer: self.routing.me.id.0,
        };
        let item = Item {
            key,
            value,
            version,
        };
        if self.store_merge(StoreKind::Network, item.clone()).0 == Merge::Full {
            let outcome = WriteOutcome::Full;
            return self.send(ctx, &origin, Body::WriteDone { op, outcome });
        }
        let replicas: Vec<NodeRef> = self
            .routing
            .successors
            .iter()
            .take(usize::from(self.cfg.replicas) - 1)
            .cloned()
            .collect();
        let write_id = self.fresh_id();
        for node in &replicas {
            let body = Body::Replicate {
                items: vec![item.clone()],
                ack: Some(write_id),
            };
            self.send(ctx, node, body);
        }
        let write = PrimaryWrite {
            origin,
            op,
            version,
            existed,
            waiting: replicas.iter().map(|n| n.id).collect(),
            replicas: 1,
            // Longer than one RPC: a loaded replica should still count, and
            // the writer's own deadline (op_timeout) is longer still.
            deadline: self.now + self.cfg.op_timeout() / 2,
        };
        self.writes.insert(write_id, write);
        self.maybe_finish_write(ctx, write_id);
    }

    pub(crate) fn on_replicate_ack(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        ack: u64,
        complete: bool,
    ) {
        if let Some(w) = self.writes.get_mut(&ack) {
            // A replica whose store was full answers but does not hold it.
            if w.waiting.remove(&sender) && complete {
                w.replicas += 1;
            }
            self.maybe_finish_write(ctx, ack);
        } else {
            self.on_gc_ack(ctx, sender, ack, complete);
        }
    }

    fn maybe_finish_write(&mut self, ctx: &mut Context<'_, Self>, write_id: u64) {
        let done = self
            .writes
            .get(&write_id)
            .is_some_and(|w| w.waiting.is_empty() || self.now >= w.deadline);
        if !done {
            return;
        }
        let w = self.writes.remove(&write_id).expect("checked above");
        let outcome = WriteOutcome::Stored {
            version: w.version,
            replicas: w.replicas,
            existed: w.existed,
        };
        self.send(ctx, &w.origin, Body::WriteDone { op: w.op, outcome });
    }

    pub(crate) fn on_write_done(
        &mut self,
        ctx: &mut Context<'_, Self>,
        op: u64,
        outcome: WriteOutcome,
    ) {
        let Some(entry) = self.ops.get_mut(&op) else {
            return;
        };
        if !matches!(entry.phase, Phase::Writing { .. }) {
            return;
        }
        let deleting = matches!(entry.kind, OpKind::Delete { .. });
        let reply = match outcome {
            WriteOutcome::Stored {
                existed, version, ..
            } if deleting => Reply::Deleted {
                existed,
                version: Some(version),
            },
            WriteOutcome::Stored {
                version, replicas, ..
            } => Reply::Stored { version, replicas },
            WriteOutcome::Full => Reply::Error(DhtError::StoreFull {
                max: self.cfg.keys_max,
            }),
            WriteOutcome::NotResponsible => {
                entry.attempts += 1;
                if entry.attempts < WRITE_ATTEMPTS_MAX {
                    entry.phase = Phase::RetryLookup;
                    return;
                }
                Reply::Error(DhtError::RingChanging)
            }
        };
        self.finish_op(ctx, op, reply);
    }

    pub(crate) fn on_read_done(
        &mut self,
        ctx: &mut Context<'_, Self>,
        sender: NodeId,
        op: u64,
        item: Option<Item>,
    ) {
        let Some(entry) = self.ops.get_mut(&op) else {
            return;
        };
        let Phase::Reading {
            waiting,
            best,
            answered,
        } = &mut entry.phase
        else {
            return;
        };
        if !waiting.remove(&sender) {
            return;
        }
        *answered += 1;
        if let Some(item) = item {
            self.lamport = self.lamport.max(item.version.counter);
            if best.as_ref().is_none_or(|b| b.version < item.version) {
                *best = Some(item);
            }
        }
        if waiting.is_empty() {
            let reply = read_reply(best.take());
            self.finish_op(ctx, op, reply);
        }
    }

    /// Deadlines: reads answer with what they have, primaries answer with
    /// the replicas that acked, everything else fails with `Timeout`.
    pub(crate) fn expire_ops(&mut self, ctx: &mut Context<'_, Self>) {
        let now = self.now;
        let late_writes: Vec<u64> = self
            .writes
            .iter()
            .filter(|(_, w)| now >= w.deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in late_writes {
            self.maybe_finish_write(ctx, id);
        }
        let retry: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, o)| matches!(o.phase, Phase::RetryLookup) && now < o.deadline)
            .map(|(id, _)| *id)
            .collect();
        for op in retry {
            let entry = self.ops.get_mut(&op).expect("listed above");
            entry.phase = Phase::Lookup;
            let key = RingId::of_key(entry.kind.key());
            self.start_lookup(ctx, key, Purpose::Op(op), None);
        }
        let late: Vec<u64> = self
            .ops
            .iter()
            .filter(|(_, o)| now >= o.deadline)
            .map(|(id, _)| *id)
            .collect();
        let timeout_ms = self.cfg.op_timeout_ms;
        for op in late {
            let reply = match &mut self.ops.get_mut(&op).expect("listed above").phase {
                Phase::Reading { best, answered, .. } if *answered > 0 => read_reply(best.take()),
                _ => Reply::Error(DhtError::Timeout { timeout_ms }),
            };
            self.finish_op(ctx, op, reply);
        }
    }

    fn finish_op(&mut self, ctx: &mut Context<'_, Self>, op: u64, reply: Reply) {
        if let Some(entry) = self.ops.remove(&op) {
            self.lookups.retain(|_, l| l.purpose != Purpose::Op(op));
            ctx.reply(entry.request, reply);
        }
    }

    pub(crate) fn fail_all_ops(&mut self, ctx: &mut Context<'_, Self>) {
        let ops: Vec<u64> = self.ops.keys().copied().collect();
        for op in ops {
            self.finish_op(ctx, op, Reply::Error(DhtError::NotJoined));
        }
        self.writes.clear();
    }

    /// A local-store write, and whether it was logged.
    pub(crate) fn local_put(&mut self, key: String, value: Vec<u8>) -> (Reply, bool) {
        if let Err(e) = self.item_fits(&key, Some(&value)) {
            return (Reply::Error(e), false);
        }
        let counter = self.local.version(&key).map_or(0, |v| v.counter) + 1;
        let version = Version {
            counter,
            writer: self.routing.me.id.0,
        };
        let item = Item {
            key,
            value: Some(value),
            version,
        };
        match self.store_merge(StoreKind::Local, item) {
            (Merge::Full, _) => (
                Reply::Error(DhtError::StoreFull {
                    max: self.cfg.keys_max,
                }),
                false,
            ),
            (_, logged) => (
                Reply::Stored {
                    version,
                    replicas: 1,
                },
                logged,
            ),
        }
    }

    pub(crate) fn local_get(&self, key: &str) -> Reply {
        read_reply(self.local.get(key).cloned())
    }
}

fn read_reply(item: Option<Item>) -> Reply {
    match item {
        Some(Item {
            value: Some(value),
            version,
            ..
        }) => Reply::Value { value, version },
        _ => Reply::NotFound,
    }
}
