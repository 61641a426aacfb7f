//! The coordinator half: runs client operations in two quorum phases,
//! retrying unanswered peers and giving up after a timeout.

use super::{Register, RegisterBug, RegisterMessage, RegisterReply, Ts, OPS_IN_FLIGHT_MAX};
use skein_core::{Context, NodeId, RequestId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Get,
    Put(u64),
}

#[derive(Clone, Debug)]
pub(super) enum Phase {
    Query(BTreeMap<NodeId, (Ts, Option<u64>)>),
    Store {
        ts: Ts,
        value: Option<u64>,
        acks: BTreeSet<NodeId>,
    },
}

#[derive(Clone, Debug)]
pub(super) struct PendingOp {
    request: RequestId,
    key: u64,
    kind: Kind,
    phase: Phase,
    started: Duration,
    sent: Duration,
}

impl Register {
    /// A majority — unless the injected bug shaves one off.
    fn quorum(&self) -> usize {
        let n = self.members.len();
        match self.config.bug {
            Some(RegisterBug::SkipQuorum) => (n / 2).max(1),
            _ => n / 2 + 1,
        }
    }

    pub(super) fn start_op(
        &mut self,
        ctx: &mut Context<'_, Self>,
        request: RequestId,
        key: u64,
        kind: Kind,
    ) {
        if self.ops.len() >= OPS_IN_FLIGHT_MAX {
            ctx.reply(request, RegisterReply::Busy);
            return;
        }
        let op = self.boot_nonce << 32 | (self.next_op & 0xffff_ffff);
        self.next_op += 1;
        let mut replies = BTreeMap::new();
        replies.insert(self.id, self.local_read(key));
        let now = ctx.now();
        self.ops.insert(
            op,
            PendingOp {
                request,
                key,
                kind,
                phase: Phase::Query(replies),
                started: now,
                sent: now,
            },
        );
        ctx.broadcast(RegisterMessage::Query { op, key });
        self.advance(ctx, op);
    }

    pub(super) fn on_query_reply(
        &mut self,
        ctx: &mut Context<'_, Self>,
        from: NodeId,
        op: u64,
        ts: Ts,
        value: Option<u64>,
    ) {
        if let Some(PendingOp {
            phase: Phase::Query(replies),
            ..
        }) = self.ops.get_mut(&op)
        {
            replies.insert(from, (ts, value));
            self.advance(ctx, op);
        }
    }

    pub(super) fn on_store_ack(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, op: u64) {
        if let Some(PendingOp {
            phase: Phase::Store { acks, .. },
            ..
        }) = self.ops.get_mut(&op)
        {
            acks.insert(from);
            self.advance(ctx, op);
        }
    }

    /// Moves an operation on once its phase has a quorum.
    fn advance(&mut self, ctx: &mut Context<'_, Self>, op: u64) {
        let quorum = self.quorum();
        let Some(pending) = self.ops.get(&op).cloned() else {
            return;
        };
        match pending.phase {
            Phase::Query(replies) if replies.len() >= quorum => {
                let (max_ts, max_value) = replies.values().copied().max().unwrap_or_default();
                let (ts, value) = match pending.kind {
                    Kind::Get if self.config.bug == Some(RegisterBug::SkipWriteBack) => {
                        self.ops.remove(&op);
                        ctx.reply(pending.request, RegisterReply::Value(max_value));
                        return;
                    }
                    Kind::Get => (max_ts, max_value),
                    Kind::Put(v) => {
                        // Above everything seen and everything this boot wrote.
                        self.counter = self.counter.max(max_ts.counter) + 1;
                        let ts = Ts {
                            counter: self.counter,
                            node: self.id.0,
                            boot: self.boot_nonce as u32,
                        };
                        (ts, Some(v))
                    }
                };
                let entry = self.ops.get_mut(&op).expect("cloned above");
                entry.phase = Phase::Store {
                    ts,
                    value,
                    acks: BTreeSet::new(),
                };
                entry.sent = ctx.now();
                let key = pending.key;
                ctx.broadcast(RegisterMessage::Store { op, key, ts, value });
                let id = self.id;
                self.on_store(ctx, id, op, key, ts, value);
            }
            Phase::Store { value, acks, .. } if acks.len() >= quorum => {
                self.ops.remove(&op);
                let reply = match pending.kind {
                    Kind::Get => RegisterReply::Value(value),
                    Kind::Put(_) => RegisterReply::Written,
                };
                ctx.reply(pending.request, reply);
            }
            _ => {}
        }
    }

    /// Times out old operations and resends phase messages peers have not answered.
    pub(super) fn on_tick(&mut self, ctx: &mut Context<'_, Self>) {
        let now = ctx.now();
        let timeout = Duration::from_millis(self.config.op_timeout_ms);
        let retry = Duration::from_millis(self.config.retry_ms);
        let ops: Vec<u64> = self.ops.keys().copied().collect();
        for op in ops {
            let pending = self.ops.get_mut(&op).expect("listed above");
            if now.saturating_sub(pending.started) >= timeout {
                let request = pending.request;
                self.ops.remove(&op);
                ctx.reply(request, RegisterReply::Timeout);
                continue;
            }
            if now.saturating_sub(pending.sent) < retry {
                continue;
            }
            pending.sent = now;
            let key = pending.key;
            let (message, answered): (RegisterMessage, Vec<NodeId>) = match &pending.phase {
                Phase::Query(replies) => (
                    RegisterMessage::Query { op, key },
                    replies.keys().copied().collect(),
                ),
                Phase::Store { ts, value, acks } => (
                    RegisterMessage::Store {
                        op,
                        key,
                        ts: *ts,
                        value: *value,
                    },
                    acks.iter().copied().collect(),
                ),
            };
            for &peer in self
                .members
                .iter()
                .filter(|&&m| m != self.id && !answered.contains(&m))
            {
                ctx.send(peer, message.clone());
            }
        }
    }
}
