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
        let waiters = self.waiting.get(&key).map_or(0, |(_, ids)| ids.len());
        if (!self.waiting.contains_key(&key) && self.waiting.len() >= WAITING_MAX)
            || waiters >= WAITERS_PER_REQUEST_MAX
        {
            let reason = "too many outstanding requests at this replica; retry later".to_string();
            ctx.reply(id, BftReply::Refused { reason });
            return;
        }
        let cr = ClientRequest { client, ts, op };
        self.st.rep.inject(&self.p, cr);
        self.waiting
            .entry(key)
            .or_insert_with(|| (self.ticks, Vec::new()))
            .1
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
        if let Some((_, ids)) = self.waiting.remove(&(c.client, c.ts)) {
            for id in ids {
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
            .retain(|_, (since, _)| now.saturating_sub(*since) <= WAITING_TICKS_MAX);
        for ((client, ts), seq) in done {
            for id in self.waiting.remove(&(client, ts)).unwrap_or_default().1 {
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
}
