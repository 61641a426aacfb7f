//! Simulated clients: they pick a node, send it a request over a healthy
//! link, and record the invocation and its outcome in the history. Clients
//! are never partitioned from nodes; a crashed node refuses connections
//! (a known failure), a node that never answers leaves the outcome unknown.

use super::Simulation;
use crate::config::LoopMode;
use crate::event::EventKind;
use crate::history::OpResult;
use crate::workload::{Outcome, Workload};
use rand::seq::IndexedRandom;
use rand::Rng;
use skein_core::{Protocol, RequestId};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientState {
    outstanding: u32,
    done: bool,
}

pub(crate) struct PendingOp {
    client: u32,
    /// Index into the history.
    op: usize,
    replied: bool,
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
        let inst = self.routes[usize::from(node.0 - 1)][0];
        let Some(op) = self.history.invoke(client, node, input, self.now_us) else {
            return;
        };
        if self.instances[inst].core.is_none() {
            // Connection refused: the request never left the client.
            self.history.complete(op, self.now_us, OpResult::Fail);
            self.think(client);
            return;
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            PendingOp {
                client,
                op,
                replied: false,
            },
        );
        self.clients[client as usize].outstanding += 1;
        let latency_us = self.cfg.link.sample_latency_us(&mut self.rng);
        self.queue.push(
            self.now_us + latency_us,
            EventKind::Request { inst, id, request },
        );
        let timeout_us = 1_000 * self.cfg.clients.timeout_ms;
        self.queue
            .push(self.now_us + timeout_us, EventKind::ClientTimeout { id });
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
        let node = self.history.ops()[pending.op].node;
        self.tracer.record(
            self.stats.events,
            self.now_us,
            "reply",
            Some(node),
            None,
            &reply,
        );
        let outcome = self
            .workload
            .outcome(&self.history.ops()[pending.op].input, &reply);
        let result = match outcome {
            Outcome::Ok(out) => {
                if self.quiet_at_us.is_some() {
                    self.ops_ok_after_quiet += 1;
                }
                OpResult::Ok(out)
            }
            Outcome::Fail => OpResult::Fail,
            Outcome::Unknown => OpResult::Unknown,
        };
        self.history.complete(pending.op, self.now_us, result);
        self.finish_op(pending.client);
    }

    pub(super) fn client_timeout(&mut self, id: RequestId) {
        if let Some(pending) = self.pending.remove(&id) {
            self.tracer.record(
                self.stats.events,
                self.now_us,
                "client-timeout",
                None,
                None,
                &id.0,
            );
            self.history
                .complete(pending.op, self.now_us, OpResult::Unknown);
            self.finish_op(pending.client);
        }
    }

    fn finish_op(&mut self, client: u32) {
        let state = &mut self.clients[client as usize];
        state.outstanding -= 1;
        if self.cfg.clients.mode == LoopMode::Closed {
            self.think(client);
        }
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
