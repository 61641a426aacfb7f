//! Client requests in, replies out (BFTLIST.md §3, with [EXT] push replies).

use crate::machine::OpResult;
use crate::message::{BftReply, BftRequest};
use crate::node::{BftNode, WAITING_MAX};
use crate::types::ClientRequest;
use skein_core::{Context, RequestId};

/// Most callers waiting on one request at one replica.
const WAITERS_PER_REQUEST_MAX: usize = 8;
/// Ticks after which a request that did not execute is forgotten.
const WAITING_TICKS_MAX: u64 = 3000;
/// A request callers still wait for, found in neither the own `pend` nor
/// the own queue, is queued again every this many ticks.
const REQUEUE_EVERY_TICKS: u64 = 10;

/// The callers of one request at this replica, and the request itself.
#[derive(Clone, Debug)]
pub(crate) struct Waiting {
    /// The tick the first caller arrived.
    pub since: u64,
    pub ids: Vec<RequestId>,
    pub request: ClientRequest,
}

impl BftNode {
    pub(crate) fn client_request(
        &mut self,
        ctx: &mut Context<'_, Self>,
        id: RequestId,
        request: BftRequest,
    ) {
        let (client, ts, op) = match request {
            BftRequest::Show => {
                let own = &self.st.rep.rep[self.p.me];
                let reply = BftReply::List {
                    last_exec: own.last_exec(),
                    list: own.machine.list.clone(),
                };
                ctx.reply(id, reply);
                return;
            }
            BftRequest::Submit { client, ts, op } => (client, ts, op),
            BftRequest::Admin(admin) => return self.admin_request(ctx, id, admin),
        };
        if client as usize >= self.p.clients {
            let reason = format!(
                "client id {client} out of range: this cluster accepts 0..{} (`clients_max`)",
                self.p.clients
            );
            ctx.reply(id, BftReply::Refused { reason });
            return;
        }
        let own = &self.st.rep.rep[self.p.me];
        if let Some(l) = own.machine.executed(client, ts) {
            let reply = if l.ts == ts {
                BftReply::AlreadyExecuted {
                    client,
                    ts,
                    seq: l.seq,
                }
            } else {
                BftReply::Refused {
                    reason: format!(
                        "stale timestamp {ts}: client {client} already executed {}",
                        l.ts
                    ),
                }
            };
            ctx.reply(id, reply);
            return;
        }
        let key = (client, ts);
        let waiters = self.waiting.get(&key).map_or(0, |w| w.ids.len());
        if (!self.waiting.contains_key(&key) && self.waiting.len() >= WAITING_MAX)
            || waiters >= WAITERS_PER_REQUEST_MAX
        {
            let reason = "too many outstanding requests at this replica; retry later".to_string();
            ctx.reply(id, BftReply::Refused { reason });
            return;
        }
        let cr = ClientRequest { client, ts, op };
        self.st.rep.inject(&self.p, cr.clone());
        let since = self.ticks;
        self.waiting
            .entry(key)
            .or_insert_with(|| Waiting {
                since,
                ids: Vec::new(),
                request: cr,
            })
            .ids
            .push(id);
        self.advance_now(ctx);
    }

    /// Replies to everyone waiting on a request this replica just executed.
    pub(crate) fn reply_executed(
        &mut self,
        ctx: &mut Context<'_, Self>,
        c: &ClientRequest,
        seq: i64,
        result: OpResult,
    ) {
        if let Some(w) = self.waiting.remove(&(c.client, c.ts)) {
            for id in w.ids {
                let reply = BftReply::Executed {
                    client: c.client,
                    ts: c.ts,
                    seq,
                    result: result.clone(),
                };
                ctx.reply(id, reply);
            }
        }
    }

    /// Replies to requests whose execution this replica learnt by adopting a
    /// consolidated or new-view state rather than executing them itself.
    pub(crate) fn reply_learnt(&mut self, ctx: &mut Context<'_, Self>) {
        let machine = &self.st.rep.rep[self.p.me].machine;
        let done: Vec<((u32, u64), i64)> = self
            .waiting
            .keys()
            .filter_map(|&(c, ts)| machine.executed(c, ts).map(|l| ((c, ts), l.seq)))
            .collect();
        // Callers give up after their own timeout; forget them after ours.
        let now = self.ticks;
        self.waiting
            .retain(|_, w| now.saturating_sub(w.since) <= WAITING_TICKS_MAX);
        for ((client, ts), seq) in done {
            let ids = self.waiting.remove(&(client, ts)).map(|w| w.ids);
            for id in ids.unwrap_or_default() {
                let reply = match self.st.rep.rep[self.p.me].machine.last.get(&client) {
                    Some(l) if l.ts == ts => BftReply::AlreadyExecuted { client, ts, seq },
                    _ => BftReply::Refused {
                        reason: format!("superseded: client {client} had a newer request executed"),
                    },
                };
                ctx.reply(id, reply);
            }
        }
    }

    /// Self-stabilization of the client side (BFTLIST.md §3: the original's
    /// clients retried): a transient fault, a VE reset or a flush can drop
    /// a request from every `pend` while its callers still wait here, and
    /// nothing would bring it back before the callers' own timeout (sim
    /// long-sweep seed 21: all three clients' requests lost in a reset
    /// 3 s after the faults stopped, no operation for 10 s). So a request
    /// a caller waits for, not executed and in neither the own `pend` nor
    /// the own queue, is queued again every `REQUEUE_EVERY_TICKS`, as if
    /// its caller had sent it again. Exactly-once is unaffected: a request
    /// ordered twice executes once (`Machine::executed`).
    pub(crate) fn requeue_lost_requests(&mut self) {
        let now = self.ticks;
        let own = &self.st.rep.rep[self.p.me];
        let held: std::collections::BTreeSet<(u32, u64)> = own
            .pend
            .iter()
            .chain(own.reqq.iter().map(|e| &e.req.creq))
            .map(|c| (c.client, c.ts))
            .collect();
        let lost: Vec<ClientRequest> = self
            .waiting
            .iter()
            .filter(|(key, w)| {
                let age = now.saturating_sub(w.since);
                age > 0
                    && age % REQUEUE_EVERY_TICKS == 0
                    && !held.contains(key)
                    && own.machine.executed(key.0, key.1).is_none()
            })
            .map(|(_, w)| w.request.clone())
            .collect();
        for request in lost {
            self.st.rep.inject(&self.p, request);
        }
    }
}
