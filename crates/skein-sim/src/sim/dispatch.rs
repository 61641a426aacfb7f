//! Handling one event: staleness and pause checks, tracing, then the input
//! it means for a protocol core (or for clients, faults, the nemesis).

use super::Simulation;
use crate::event::EventKind;
use crate::instance::HELD_EVENTS_MAX;
use crate::net::DropReason;
use crate::workload::Workload;
use skein_core::{Input, Protocol};

impl<P: Protocol, W: Workload<P>> Simulation<'_, P, W> {
    pub(super) fn dispatch(&mut self, mut kind: EventKind<P>) {
        if let EventKind::Deliver {
            from_inst,
            to_inst,
            channel,
            conn,
            arrived,
            ..
        } = &mut kind
        {
            if !*arrived {
                *arrived = true;
                if let Err(reason) = self.network.arrive(*from_inst, *to_inst, *channel, *conn) {
                    self.stats.drop(reason.name());
                    return;
                }
            }
        }
        if let Some(i) = kind.held_by() {
            if self.instances[i].paused {
                self.hold(i, kind);
                return;
            }
        }
        let step = self.stats.events;
        let now = self.now_us;
        match kind {
            EventKind::Tick { inst, epoch } => {
                if self.is_stale(inst, epoch) {
                    return;
                }
                self.tracer
                    .record(step, now, "tick", Some(self.instances[inst].id), None, &());
                self.step(inst, Input::Tick);
                self.adversary_tick(inst);
                let delay = self.instances[inst]
                    .clock
                    .global_delay_us(self.instances[inst].tick_us);
                self.queue
                    .push(now + delay, EventKind::Tick { inst, epoch });
            }
            EventKind::Timer {
                inst,
                epoch,
                timer,
                generation,
            } => {
                let armed = self.instances[inst].timers.get(&timer) == Some(&generation);
                if self.is_stale(inst, epoch) || !armed {
                    return;
                }
                self.instances[inst].timers.remove(&timer);
                self.tracer.record(
                    step,
                    now,
                    "timer",
                    Some(self.instances[inst].id),
                    None,
                    &timer.0,
                );
                self.step(inst, Input::Timer(timer));
            }
            EventKind::Deliver {
                to_inst,
                from,
                message,
                ..
            } => {
                let target = &mut self.instances[to_inst];
                if target.core.is_none() {
                    self.stats.drop(DropReason::Crashed.name());
                    return;
                }
                if let Some(adversary) = target.adversary.as_mut() {
                    adversary.incoming(from, &message);
                }
                self.stats.messages_delivered += 1;
                self.tracer
                    .record(step, now, "deliver", Some(target.id), Some(from), &message);
                self.step(to_inst, Input::Message { from, message });
            }
            EventKind::PersistDone { inst, epoch, seq } => {
                if self.is_stale(inst, epoch) {
                    return;
                }
                if let Some(token) = self.instances[inst].disk.complete(seq) {
                    self.tracer.record(
                        step,
                        now,
                        "persisted",
                        Some(self.instances[inst].id),
                        None,
                        &token,
                    );
                    self.step(inst, Input::Persisted { token });
                }
            }
            EventKind::Request { inst, id, request } => {
                if self.instances[inst].core.is_none() {
                    return; // lost with the crashed node; the client times out
                }
                self.tracer.record(
                    step,
                    now,
                    "request",
                    Some(self.instances[inst].id),
                    None,
                    &request,
                );
                self.step(inst, Input::Request { id, request });
            }
            EventKind::Reply { id, reply } => self.client_reply(id, reply),
            EventKind::ClientWake { client } => self.client_wake(client),
            EventKind::ClientTimeout { op } => self.client_timeout(op),
            EventKind::ClientRetry {
                op,
                to,
                attempt,
                request,
            } => self.client_retry(op, to, attempt, request),
            EventKind::Fault(action) => self.apply_fault(action),
            EventKind::Nemesis => self.nemesis_turn(),
            EventKind::LivenessDeadline => self.judge_liveness(),
        }
    }

    fn is_stale(&self, inst: usize, epoch: u32) -> bool {
        let instance = &self.instances[inst];
        instance.epoch != epoch || instance.core.is_none()
    }

    /// Keeps an event for a paused instance. Messages and requests beyond the
    /// bound are dropped; ticks, timers and disk completions are always kept
    /// (there are few of them, and losing one would stop the node for good).
    fn hold(&mut self, inst: usize, kind: EventKind<P>) {
        let droppable = matches!(kind, EventKind::Deliver { .. } | EventKind::Request { .. });
        let held = &mut self.instances[inst].held;
        if droppable && held.len() >= HELD_EVENTS_MAX {
            self.stats.drop(DropReason::PauseOverflow.name());
            return;
        }
        held.push_back(kind);
        self.stats.events_held += 1;
    }
}
