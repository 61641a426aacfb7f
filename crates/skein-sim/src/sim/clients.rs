//! Simulated clients: they pick a node (or, for fanned-out workloads, every
//! member), send it a request over a healthy link, and record the invocation
//! and its outcome in the history. Clients are never partitioned from nodes;
//! a crashed node refuses connections (a known failure), a node that never
//! answers leaves the outcome unknown. A reply the workload reads as
//! [`Outcome::Retry`] (a redirect) re-sends the same request after a short
//! backoff; one read as [`Outcome::Wait`] leaves the operation open.

use super::Simulation;
use crate::config::LoopMode;
use crate::event::EventKind;
use crate::history::OpResult;
use crate::workload::{ModelOutput, Outcome, ReplyFrom, Workload};
use rand::seq::IndexedRandom;
use rand::Rng;
use skein_core::{NodeId, Protocol, RequestId};

/// Attempts of one operation (redirects followed); past it the operation
/// fails, which is sound because every attempt so far did nothing.
pub const ATTEMPTS_PER_OP_MAX: u32 = 64;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientState {
    /// Operations (not requests) this client has open.
    outstanding: u32,
    done: bool,
}

/// One request in flight to one node, for operation `op` of the history.
pub(crate) struct PendingOp<R> {
    op: usize,
    node: NodeId,
    attempt: u32,
    replied: bool,
    /// Kept so a redirect can send the same request again.
    request: R,
}

impl<P: Protocol, W: Workload<P>> Simulation<'_, P, W> {
    pub(super) fn client_wake(&mut self, client: u32) {
        let state = self.clients[client as usize];
        if state.done {
            return;
        }
        match self.cfg.clients.mode {
            LoopMode::Closed => {
                if state.outstanding == 0 {
                    self.issue(client);
                }
            }
            LoopMode::Open {
                ops_per_sec,
                outstanding_max,
            } => {
                if state.outstanding < outstanding_max {
                    self.issue(client);
                }
                // Poisson arrivals: exponential gaps with mean 1/rate.
                let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                let gap_us = (-u.ln() * 1e6 / f64::from(ops_per_sec.max(1))) as u64;
                self.queue.push(
                    self.now_us + gap_us.max(1),
                    EventKind::ClientWake { client },
                );
            }
        }
    }

    fn issue(&mut self, client: u32) {
        let Some((request, input)) = (!self.history.is_full())
            .then(|| self.workload.next_op(&mut self.rng, client))
            .flatten()
        else {
            self.clients[client as usize].done = true;
            return;
        };
        let node = *self
            .members
            .choose(&mut self.rng)
            .expect("at least one member");
        let Some(op) = self.history.invoke(client, node, input, self.now_us) else {
            return;
        };
        self.clients[client as usize].outstanding += 1;
        let targets = if self.workload.fan_out() {
            self.members.clone()
        } else {
            vec![node]
        };
        let mut sent = 0u32;
        for to in targets {
            sent += u32::from(self.send_request(op, to, 0, request.clone()));
        }
        if sent == 0 {
            // Connection refused: the request never left the client.
            self.end_op(op, OpResult::Fail);
            return;
        }
        let timeout_us = 1_000 * self.cfg.clients.timeout_ms;
        self.queue
            .push(self.now_us + timeout_us, EventKind::ClientTimeout { op });
    }

    /// Sends one attempt of operation `op` to node `to`; false if `to` is
    /// crashed (the connection is refused, nothing was sent).
    fn send_request(&mut self, op: usize, to: NodeId, attempt: u32, request: P::Request) -> bool {
        let inst = self.routes[usize::from(to.0 - 1)][0];
        if self.instances[inst].core.is_none() {
            return false;
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            PendingOp {
                op,
                node: to,
                attempt,
                replied: false,
                request: request.clone(),
            },
        );
        let latency_us = self.cfg.link.sample_latency_us(&mut self.rng);
        self.queue.push(
            self.now_us + latency_us,
            EventKind::Request { inst, id, request },
        );
        true
    }

    /// A redirect's turn: send the operation again, unless it ended meanwhile.
    pub(super) fn client_retry(
        &mut self,
        op: usize,
        to: Option<NodeId>,
        attempt: u32,
        request: P::Request,
    ) {
        if !matches!(self.history.ops()[op].result, OpResult::Pending) {
            return;
        }
        if attempt >= ATTEMPTS_PER_OP_MAX {
            self.end_op(op, OpResult::Fail);
            return;
        }
        let to = match to.filter(|n| self.members.contains(n)) {
            Some(n) => n,
            None => *self.members.choose(&mut self.rng).expect("members"),
        };
        if !self.send_request(op, to, attempt, request.clone()) {
            self.schedule_retry(op, None, attempt + 1, request);
        }
    }

    fn schedule_retry(&mut self, op: usize, to: Option<NodeId>, attempt: u32, request: P::Request) {
        let backoff_us = 1_000 * self.cfg.clients.retry_backoff_ms.max(1);
        self.queue.push(
            self.now_us + backoff_us,
            EventKind::ClientRetry {
                op,
                to,
                attempt,
                request,
            },
        );
    }

    /// A core's `Reply` effect: it travels back to the waiting client.
    pub(super) fn node_reply(&mut self, inst: usize, id: RequestId, reply: P::Reply) {
        let Some(pending) = self.pending.get_mut(&id) else {
            self.stats.replies_late += 1;
            return;
        };
        if pending.replied {
            let node = self.instances[inst].id;
            self.violate(
                "protocol-contract",
                format!("node {node} replied twice to request {id}"),
            );
            return;
        }
        pending.replied = true;
        let latency_us = self.cfg.link.sample_latency_us(&mut self.rng);
        self.queue
            .push(self.now_us + latency_us, EventKind::Reply { id, reply });
    }

    pub(super) fn client_reply(&mut self, id: RequestId, reply: P::Reply) {
        let Some(pending) = self.pending.remove(&id) else {
            self.stats.replies_late += 1;
            return;
        };
        self.tracer.record(
            self.stats.events,
            self.now_us,
            "reply",
            Some(pending.node),
            None,
            &reply,
        );
        let from = ReplyFrom {
            op: pending.op,
            node: pending.node,
        };
        let outcome = self
            .workload
            .outcome(from, &self.history.ops()[pending.op].input, &reply);
        let result = match outcome {
            Outcome::Ok(out) => OpResult::Ok(out),
            Outcome::Fail => OpResult::Fail,
            Outcome::Unknown => OpResult::Unknown,
            Outcome::Wait => return,
            Outcome::Retry(to) => {
                self.schedule_retry(pending.op, to, pending.attempt + 1, pending.request);
                return;
            }
        };
        self.end_op(pending.op, result);
    }

    pub(super) fn client_timeout(&mut self, op: usize) {
        if matches!(self.history.ops()[op].result, OpResult::Pending) {
            self.tracer.record(
                self.stats.events,
                self.now_us,
                "client-timeout",
                None,
                None,
                &(op as u64),
            );
            self.end_op(op, OpResult::Unknown);
        }
    }

    /// Records how operation `op` ended and forgets its requests still in
    /// flight (their replies will count as late).
    fn end_op(&mut self, op: usize, result: OpResult<ModelOutput<W, P>>) {
        if matches!(result, OpResult::Ok(_)) && self.quiet_at_us.is_some() {
            self.ops_ok_after_quiet += 1;
        }
        self.history.complete(op, self.now_us, result);
        self.pending.retain(|_, p| p.op != op);
        self.workload.forget(op);
        let client = self.history.ops()[op].client;
        let state = &mut self.clients[client as usize];
        state.outstanding -= 1;
        self.think(client);
    }

    fn think(&mut self, client: u32) {
        if self.cfg.clients.mode == LoopMode::Closed {
            let think_us = 1_000
                * self
                    .rng
                    .random_range(1..=self.cfg.clients.think_ms_max.max(1));
            self.queue
                .push(self.now_us + think_us, EventKind::ClientWake { client });
        }
    }
}
