//! The lean network under the scale drivers (`services::dht::scale`,
//! `services::gossip::scale`), for sizes the general simulator cannot reach:
//! that one caps clusters and keeps per-link state for every pair. Here a
//! message is one event with a random latency and an independent loss, a
//! write to disk is durable at once, and a crash is immediate. It drives the
//! real protocol cores; what is service-specific (how a node boots, what a
//! measurement reads) stays in the service's driver.
//!
//! Deterministic: one seed decides tick phases, latencies, losses and every
//! core's rng.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::{Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

/// Network model of a scale run.
#[derive(Clone, Copy, Debug)]
pub struct NetModel {
    pub latency_min_us: u64,
    pub latency_max_us: u64,
    /// Probability that a message is lost, in parts per million.
    pub loss_ppm: u32,
}

impl Default for NetModel {
    fn default() -> Self {
        Self {
            latency_min_us: 1_000,
            latency_max_us: 10_000,
            loss_ppm: 0,
        }
    }
}

/// The address node `id` has on the lean network.
pub fn address(id: NodeId) -> PeerAddress {
    PeerAddress(format!("sim:{id}"))
}

/// Node `i` of the driver's vectors is `NodeId(i + 1)`.
pub fn node_id(i: usize) -> NodeId {
    NodeId(u16::try_from(i + 1).expect("node ids are u16"))
}

enum Event<M> {
    /// A node's tick; stale once the node restarted (`epoch` differs).
    Tick {
        node: usize,
        epoch: u32,
    },
    Deliver {
        from: usize,
        to: usize,
        message: M,
    },
}

/// N cores of protocol `P` on the lean network.
pub struct LeanNet<P: Protocol> {
    pub nodes: Vec<Option<P>>,
    /// Each node's durable records, kept across crashes.
    pub disks: Vec<Vec<Vec<u8>>>,
    pub now_us: u64,
    /// Messages sent, by the kind `kind_of` gives them.
    pub sent: BTreeMap<&'static str, u64>,
    pub lost: u64,
    /// Replies to [`LeanNet::request`], by the id it returned.
    pub replies: BTreeMap<u64, P::Reply>,
    /// The run's one source of randomness; drivers draw from it too (boot
    /// order, keys, ...) so that the seed decides everything.
    pub rng: ChaCha8Rng,
    kind_of: fn(&P::Message) -> &'static str,
    keep_writes: bool,
    net: NetModel,
    tick_us: u64,
    epochs: Vec<u32>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event<P::Message>>,
    next_seq: u64,
    next_request: u64,
    effects: Vec<Effect<P>>,
}

impl<P: Protocol> LeanNet<P> {
    /// `n` empty slots; [`LeanNet::start`] puts a core in one.
    pub fn new(
        n: usize,
        net: NetModel,
        tick: Duration,
        seed: u64,
        kind_of: fn(&P::Message) -> &'static str,
    ) -> Self {
        assert!(net.latency_min_us <= net.latency_max_us, "latency range");
        Self {
            nodes: (0..n).map(|_| None).collect(),
            disks: vec![Vec::new(); n],
            now_us: 0,
            sent: BTreeMap::new(),
            lost: 0,
            replies: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            kind_of,
            keep_writes: true,
            net,
            tick_us: u64::try_from(tick.as_micros()).expect("tick fits in u64 µs"),
            epochs: vec![0; n],
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_seq: 0,
            next_request: 0,
            effects: Vec::new(),
        }
    }

    /// Writes are acknowledged as durable but not kept, for runs that never
    /// restart a node and would otherwise hold every node's records.
    pub fn discarding_writes(mut self) -> Self {
        self.keep_writes = false;
        self
    }

    /// A new empty slot at the end; returns its index.
    pub fn add_slot(&mut self) -> usize {
        self.nodes.push(None);
        self.disks.push(Vec::new());
        self.epochs.push(0);
        self.nodes.len() - 1
    }

    pub fn now(&self) -> Duration {
        Duration::from_micros(self.now_us)
    }

    /// Runs `core` as node `i` from now: its `Start`, then a tick every
    /// tick period from a random phase (so that nodes do not tick in step).
    pub fn start(&mut self, i: usize, core: P) {
        assert!(self.nodes[i].is_none(), "node {} is running", i + 1);
        self.nodes[i] = Some(core);
        self.epochs[i] += 1;
        self.step(i, Input::Start);
        let phase = self.rng.random_range(0..self.tick_us.max(1));
        let epoch = self.epochs[i];
        self.push(self.now_us + phase, Event::Tick { node: i, epoch });
    }

    /// A crash: the node's memory is gone, its disk stays.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// Hands `request` to node `i`; its reply lands in `replies` under the
    /// returned id.
    pub fn request(&mut self, i: usize, request: P::Request) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        let input = Input::Request {
            id: RequestId(id),
            request,
        };
        self.step(i, input);
        id
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &P)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    pub fn total_sent(&self, kinds: &[&str]) -> u64 {
        kinds
            .iter()
            .map(|k| self.sent.get(k).copied().unwrap_or(0))
            .sum()
    }

    /// Runs until virtual time `until_us`.
    pub fn run_until(&mut self, until_us: u64) {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until_us {
                break;
            }
            self.queue.pop();
            self.now_us = at;
            match self.events.remove(&seq).expect("queued events are stored") {
                Event::Tick { node, epoch } => {
                    if self.nodes[node].is_some() && self.epochs[node] == epoch {
                        self.step(node, Input::Tick);
                        self.push(at + self.tick_us, Event::Tick { node, epoch });
                    }
                }
                Event::Deliver { from, to, message } => {
                    let from = node_id(from);
                    self.step(to, Input::Message { from, message });
                }
            }
        }
        self.now_us = self.now_us.max(until_us);
    }

    fn push(&mut self, at_us: u64, event: Event<P::Message>) {
        self.next_seq += 1;
        self.queue.push(Reverse((at_us, self.next_seq)));
        self.events.insert(self.next_seq, event);
    }

    fn step(&mut self, i: usize, input: Input<P>) {
        let now = self.now();
        let Some(core) = self.nodes[i].as_mut() else {
            return;
        };
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = Context::new(node_id(i), now, &mut self.rng, &mut effects);
        core.step(&mut ctx, input);
        let mut durable = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, message, .. } => self.transmit(i, to, message),
                Effect::Reply { request, reply } => {
                    self.replies.insert(request.0, reply);
                }
                Effect::Persist { token, write } => {
                    if self.keep_writes {
                        apply_write(&mut self.disks[i], &write);
                    }
                    durable = Some(token);
                }
                // Timers, peer-set changes and broadcasts to the peer set
                // are the runtime's; the scale drivers' cores use none.
                _ => {}
            }
        }
        self.effects = effects;
        // Every write is durable at once, so the newest token covers all.
        if let Some(token) = durable {
            self.step(i, Input::Persisted { token });
        }
    }

    fn transmit(&mut self, from: usize, to: NodeId, message: P::Message) {
        *self.sent.entry((self.kind_of)(&message)).or_default() += 1;
        if self.rng.random_range(0..1_000_000) < self.net.loss_ppm {
            self.lost += 1;
            return;
        }
        let to = usize::from(to.0) - 1;
        if to >= self.nodes.len() {
            return;
        }
        let latency = self
            .rng
            .random_range(self.net.latency_min_us..=self.net.latency_max_us);
        self.push(self.now_us + latency, Event::Deliver { from, to, message });
    }
}
