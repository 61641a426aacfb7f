//! Feeding one input to a core and carrying out the effects it wrote:
//! messages through adversaries and the network, disk writes, replies,
//! timers.

use super::Simulation;
use crate::byzantine::AdversaryEnv;
use crate::event::EventKind;
use crate::net::SendPlan;
use crate::time::to_us;
use crate::workload::Workload;
use skein_core::{Channel, Context, Effect, Input, NodeId, PeerAddress, Protocol};
use std::time::Duration;

impl<P: Protocol, W: Workload<P>> Simulation<'_, P, W> {
    pub(super) fn step(&mut self, inst: usize, input: Input<P>) {
        let now_us = self.now_us;
        let instance = &mut self.instances[inst];
        let Some(core) = instance.core.as_mut() else {
            return;
        };
        let local = Duration::from_micros(instance.clock.local_us(now_us));
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = Context::new(instance.id, local, &mut self.rng, &mut effects);
        core.step(&mut ctx, input);
        self.stats.protocol_steps += 1;
        self.stepped = Some(inst);
        for effect in effects.drain(..) {
            self.apply(inst, effect);
        }
        self.effects = effects;
    }

    fn apply(&mut self, inst: usize, effect: Effect<P>) {
        match effect {
            Effect::Send {
                to,
                channel,
                message,
            } => {
                if self.peers[inst].binary_search(&to).is_err() {
                    self.stats.drop("not-a-peer");
                    return;
                }
                self.send(inst, to, channel, message)
            }
            Effect::Broadcast { channel, message } => {
                let peers = self.peers[inst].len();
                for k in 0..peers {
                    let to = self.peers[inst][k];
                    self.send(inst, to, channel, message.clone());
                }
            }
            Effect::Persist { token, write } => {
                let instance = &mut self.instances[inst];
                let written =
                    instance
                        .disk
                        .write(&mut self.rng, &self.cfg.disk, self.now_us, token, write);
                let Some((seq, done_us)) = written else {
                    let id = instance.id;
                    self.violate(
                        "bounded-queues",
                        format!("node {id} has too many un-synced disk writes"),
                    );
                    return;
                };
                self.stats.disk_writes += 1;
                let epoch = instance.epoch;
                self.queue
                    .push(done_us, EventKind::PersistDone { inst, epoch, seq });
            }
            Effect::Reply { request, reply } => self.node_reply(inst, request, reply),
            Effect::SetTimer { timer, after } => {
                let instance = &mut self.instances[inst];
                instance.timer_generation += 1;
                let generation = instance.timer_generation;
                instance.timers.insert(timer, generation);
                let delay = instance.clock.global_delay_us(to_us(after));
                let epoch = instance.epoch;
                self.queue.push(
                    self.now_us + delay,
                    EventKind::Timer {
                        inst,
                        epoch,
                        timer,
                        generation,
                    },
                );
            }
            Effect::CancelTimer { timer } => {
                self.instances[inst].timers.remove(&timer);
            }
            Effect::AddPeer { id, address } => self.add_peer(inst, id, &address),
            Effect::RemovePeer { id } => self.remove_peer(inst, id),
        }
    }

    /// Routing is by id, so the address is only recorded in the trace.
    fn add_peer(&mut self, inst: usize, id: NodeId, address: &PeerAddress) {
        let me = self.instances[inst].id;
        self.tracer.record(
            self.stats.events,
            self.now_us,
            "add-peer",
            Some(me),
            Some(id),
            &address.0,
        );
        let peers = &mut self.peers[inst];
        if id == me {
            return self.stats.drop("add-self-as-peer");
        }
        if let Err(at) = peers.binary_search(&id) {
            peers.insert(at, id);
        }
        debug_assert!(peers.windows(2).all(|w| w[0] < w[1]), "peers stay sorted");
    }

    fn remove_peer(&mut self, inst: usize, id: NodeId) {
        let me = self.instances[inst].id;
        self.tracer.record(
            self.stats.events,
            self.now_us,
            "remove-peer",
            Some(me),
            Some(id),
            &(),
        );
        if let Ok(at) = self.peers[inst].binary_search(&id) {
            self.peers[inst].remove(at);
        }
    }

    /// A message the core sent: a Byzantine instance's adversary decides what
    /// really goes out.
    fn send(&mut self, inst: usize, to: NodeId, channel: Channel, message: P::Message) {
        let Some(mut adversary) = self.instances[inst].adversary.take() else {
            self.transmit(inst, to, channel, message);
            return;
        };
        let mut out = std::mem::take(&mut self.outgoing);
        let env = AdversaryEnv {
            id: self.instances[inst].id,
            peers: &self.peers[inst],
            now_us: self.now_us,
        };
        adversary.outgoing(&mut self.rng, &env, to, channel, message, &mut out);
        self.instances[inst].adversary = Some(adversary);
        for (to, channel, message) in out.drain(..) {
            self.transmit(inst, to, channel, message);
        }
        self.outgoing = out;
    }

    /// A Byzantine instance's own messages, on each of its ticks.
    pub(super) fn adversary_tick(&mut self, inst: usize) {
        let Some(mut adversary) = self.instances[inst].adversary.take() else {
            return;
        };
        let mut out = std::mem::take(&mut self.outgoing);
        let env = AdversaryEnv {
            id: self.instances[inst].id,
            peers: &self.peers[inst],
            now_us: self.now_us,
        };
        adversary.tick(&mut self.rng, &env, &mut out);
        self.instances[inst].adversary = Some(adversary);
        for (to, channel, message) in out.drain(..) {
            self.stats.byzantine_injected += 1;
            self.transmit(inst, to, channel, message);
        }
        self.outgoing = out;
    }

    /// Puts a message on the wire to every instance of `to` this sender may
    /// reach (Twins: only the twin on the sender's side).
    fn transmit(&mut self, from_inst: usize, to: NodeId, channel: Channel, message: P::Message) {
        let from = self.instances[from_inst].id;
        let member = usize::from(to.0).wrapping_sub(1);
        if member >= self.routes.len() {
            self.stats.drop("not-a-member");
            return;
        }
        if !self.instances[from_inst].talks_to(to) {
            self.stats.drop("twins-other-side");
            return;
        }
        let encoded = self
            .cfg
            .measure_message_bytes
            .then(|| (P::message_kind(&message), encoded_len(&message)));
        let mut message = Some(message);
        let targets = self.routes[member].len();
        for r in 0..targets {
            let to_inst = self.routes[member][r];
            if !self.instances[to_inst].talks_to(from) {
                continue;
            }
            let Some(msg) = (if r + 1 == targets {
                message.take()
            } else {
                message.clone()
            }) else {
                return;
            };
            self.stats.messages_sent += 1;
            if let Some((kind, len)) = encoded {
                let k = self.stats.message_bytes.entry(kind).or_default();
                k.messages += 1;
                k.bytes += len;
                k.max = k.max.max(len);
            }
            let plan = self
                .network
                .plan(&mut self.rng, self.now_us, from_inst, to_inst, channel);
            let SendPlan::Deliver {
                arrivals_us,
                copies,
                conn,
                reordered,
            } = plan
            else {
                if let SendPlan::Dropped(reason) = plan {
                    self.stats.drop(reason.name());
                }
                continue;
            };
            self.stats.messages_reordered += u64::from(reordered);
            if copies == 2 {
                self.stats.messages_duplicated += 1;
                self.queue.push(
                    arrivals_us[1],
                    EventKind::Deliver {
                        from_inst,
                        to_inst,
                        from,
                        channel,
                        conn,
                        arrived: false,
                        message: msg.clone(),
                    },
                );
            }
            self.queue.push(
                arrivals_us[0],
                EventKind::Deliver {
                    from_inst,
                    to_inst,
                    from,
                    channel,
                    conn,
                    arrived: false,
                    message: msg,
                },
            );
        }
    }
}

/// The size of a message on the wire (its postcard encoding, without framing).
fn encoded_len<M: serde::Serialize>(message: &M) -> u64 {
    postcard::to_allocvec(message).map_or(0, |v| v.len() as u64)
}
