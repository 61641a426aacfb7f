//! A lean driver for the dht at scale (16 to 10,000 nodes), for the
//! measurements the general simulator cannot make: it caps clusters and
//! keeps per-link state for every pair. Here a message is one event with a
//! random latency and an independent loss; a write to disk is durable at
//! once; crashes are immediate. It drives the real `skein-dht` core.
//!
//! Two ways to build a ring (say which in every figure):
//! * [`StartMode::Joined`]: node 1 starts the ring, the others join through
//!   it one after another, and stabilize / fix-fingers converge;
//! * [`StartMode::Converged`]: every node boots from a persisted snapshot
//!   (the core's own restart path, `skein_dht::persist`) holding what a
//!   stabilized ring converges to — predecessor, r successors and every
//!   finger, computed from the membership — as if the whole ring had
//!   restarted. No join traffic, so 10,000 nodes start in seconds.
//!
//! Each node is configured with node 1 as its join node and its only other
//! static member (like `--join` in the runtime), so a per-node member list
//! does not cost N² memory.
//!
//! Deterministic: one seed decides boot order, latencies, losses and every
//! core's rng.

use crate::services::gossip::scale::NetModel;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::{Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use skein_dht::persist::{SavedRouting, Snapshot};
use skein_dht::ring::RING_BITS;
use skein_dht::{Dht, DhtConfig, Message, NodeRef, Reply, Request, RingId, Routing};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

/// How the ring is built; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    Joined,
    Converged,
}

impl StartMode {
    pub fn name(self) -> &'static str {
        match self {
            StartMode::Joined => "joined",
            StartMode::Converged => "snapshot",
        }
    }
}

enum Event {
    /// A node's tick; stale once the node restarted (`epoch` differs).
    Tick {
        node: usize,
        epoch: u32,
    },
    Boot(usize),
    Deliver {
        from: usize,
        to: usize,
        message: Message,
    },
}

/// N dht cores on the lean network.
pub struct DhtScaleNet {
    pub nodes: Vec<Option<Dht>>,
    /// Each node's durable records (kept across crashes).
    pub disks: Vec<Vec<Vec<u8>>>,
    pub now_us: u64,
    pub sent: u64,
    pub lost: u64,
    pub replies: BTreeMap<u64, Reply>,
    cfg: DhtConfig,
    net: NetModel,
    tick_us: u64,
    epochs: Vec<u32>,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    next_seq: u64,
    next_request: u64,
    effects: Vec<Effect<Dht>>,
}

pub fn address(id: NodeId) -> PeerAddress {
    PeerAddress(format!("sim:{id}"))
}

fn node_ref(i: usize) -> NodeRef {
    let id = NodeId(i as u16 + 1);
    NodeRef::new(id, address(id))
}

/// The settings every scale run uses: node 1 is the join node.
pub fn config() -> DhtConfig {
    DhtConfig {
        join: Some(address(NodeId(1))),
        ..DhtConfig::default()
    }
}

impl DhtScaleNet {
    /// `n` nodes (ids 1..=n). `Joined`: node k boots `join_gap_us` after
    /// node k-1. `Converged`: all boot at time 0 from snapshots.
    pub fn new(
        n: u16,
        cfg: DhtConfig,
        mode: StartMode,
        join_gap_us: u64,
        net: NetModel,
        seed: u64,
    ) -> Self {
        assert!(n >= 1);
        let count = usize::from(n);
        let mut this = Self {
            nodes: (0..count).map(|_| None).collect(),
            disks: vec![Vec::new(); count],
            now_us: 0,
            sent: 0,
            lost: 0,
            replies: BTreeMap::new(),
            tick_us: cfg.tick_ms * 1_000,
            cfg,
            net,
            epochs: vec![0; count],
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_seq: 0,
            next_request: 0,
            effects: Vec::new(),
        };
        match mode {
            StartMode::Joined => {
                for i in 0..count {
                    this.push(i as u64 * join_gap_us, Event::Boot(i));
                }
            }
            StartMode::Converged => {
                let members: Vec<usize> = (0..count).collect();
                for (i, snapshot) in converged_snapshots(&members, &this.cfg) {
                    this.disks[i] = vec![snapshot.encode()];
                }
                for i in 0..count {
                    this.boot(i);
                }
            }
        }
        this
    }

    /// Adds a node that joins through node 1 now; returns its index.
    pub fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        assert!(i < usize::from(u16::MAX), "node ids are u16");
        self.nodes.push(None);
        self.disks.push(Vec::new());
        self.epochs.push(0);
        self.boot(i);
        i
    }

    fn boot(&mut self, i: usize) {
        let id = NodeId(i as u16 + 1);
        let mut members = vec![NodeId(1), id];
        members.sort();
        members.dedup();
        let dht = Dht::boot(Boot {
            id,
            address: &address(id),
            members: &members,
            config: &self.cfg,
            persisted: &self.disks[i],
            now: Duration::from_micros(self.now_us),
            rng: &mut self.rng,
        });
        self.nodes[i] = Some(dht);
        self.epochs[i] += 1;
        self.step(i, Input::Start);
        let phase = self.rng.random_range(0..self.tick_us);
        let epoch = self.epochs[i];
        self.push(self.now_us + phase, Event::Tick { node: i, epoch });
    }

    /// A crash: the node's memory is gone, its disk stays.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    /// A restart from the node's disk.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {} is running", i + 1);
        self.boot(i);
    }

    fn push(&mut self, at_us: u64, event: Event) {
        self.next_seq += 1;
        self.queue.push(Reverse((at_us, self.next_seq)));
        self.events.insert(self.next_seq, event);
    }

    fn step(&mut self, i: usize, input: Input<Dht>) {
        let Some(core) = self.nodes[i].as_mut() else {
            return;
        };
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = Context::new(
            core.me().id,
            Duration::from_micros(self.now_us),
            &mut self.rng,
            &mut effects,
        );
        core.step(&mut ctx, input);
        let mut durable = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, message, .. } => self.transmit(i, to, message),
                Effect::Reply { request, reply } => {
                    self.replies.insert(request.0, reply);
                }
                Effect::Persist { token, write } => {
                    apply_write(&mut self.disks[i], &write);
                    durable = Some(token);
                }
                _ => {}
            }
        }
        self.effects = effects;
        if let Some(token) = durable {
            self.step(i, Input::Persisted { token });
        }
    }

    fn transmit(&mut self, from: usize, to: NodeId, message: Message) {
        self.sent += 1;
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
                Event::Boot(i) => self.boot(i),
                Event::Deliver { from, to, message } => {
                    let from = NodeId(from as u16 + 1);
                    self.step(to, Input::Message { from, message });
                }
            }
        }
        self.now_us = until_us;
    }

    /// Hands `request` to node `i`; its reply lands in `replies` under the returned id.
    pub fn request(&mut self, i: usize, request: Request) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        let input = Input::Request {
            id: RequestId(id),
            request,
        };
        self.step(i, input);
        id
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &Dht)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// Running members in ring order.
    pub fn ring(&self) -> Vec<NodeRef> {
        let mut ring: Vec<NodeRef> = self
            .running()
            .filter(|(_, d)| d.is_member())
            .map(|(_, d)| d.me().clone())
            .collect();
        ring.sort_by_key(|n| n.ring);
        ring
    }

    /// Whether every running member's successor and predecessor are the
    /// true ones.
    pub fn ring_is_correct(&self) -> bool {
        let ring = self.ring();
        let members = ring.len();
        if members != self.running().count() {
            return false;
        }
        ring.iter().enumerate().all(|(k, n)| {
            let dht = self.nodes[usize::from(n.id.0) - 1].as_ref().unwrap();
            let next = &ring[(k + 1) % members];
            let prev = &ring[(k + members - 1) % members];
            let succ_ok = members == 1 || dht.routing().successor().id == next.id;
            let pred_ok = members == 1
                || dht
                    .routing()
                    .predecessor
                    .as_ref()
                    .is_some_and(|p| p.id == prev.id);
            succ_ok && pred_ok
        })
    }

    /// The fraction of finger entries that are the true first node at or
    /// after their start (entries that should be the node itself left out).
    pub fn fingers_correct(&self) -> f64 {
        let ring = self.ring();
        let (mut right, mut all) = (0u64, 0u64);
        for n in &ring {
            let dht = self.nodes[usize::from(n.id.0) - 1].as_ref().unwrap();
            for (i, f) in dht.routing().fingers.iter().enumerate() {
                let truth = successor_of(&ring, n.ring.add_pow2(i));
                if truth.id == n.id {
                    continue;
                }
                all += 1;
                right += u64::from(f.as_ref().is_some_and(|f| f.id == truth.id));
            }
        }
        if all == 0 {
            1.0
        } else {
            right as f64 / all as f64
        }
    }
}

/// The first node of `ring` (sorted by ring id) at or after `point`.
pub fn successor_of(ring: &[NodeRef], point: RingId) -> &NodeRef {
    let k = ring.partition_point(|n| n.ring < point);
    &ring[k % ring.len()]
}

/// What stabilize and fix-fingers converge to on a ring of `members`
/// (indices), as one snapshot per member.
pub fn converged_snapshots(members: &[usize], cfg: &DhtConfig) -> Vec<(usize, Snapshot)> {
    let mut ring: Vec<NodeRef> = members.iter().map(|&i| node_ref(i)).collect();
    ring.sort_by_key(|n| n.ring);
    let r = usize::from(cfg.replicas);
    let n = ring.len();
    ring.iter()
        .enumerate()
        .map(|(k, me)| {
            let mut routing = Routing::new(me.clone(), r);
            if n > 1 {
                routing.predecessor = Some(ring[(k + n - 1) % n].clone());
                routing.successors = (1..n.min(r + 1))
                    .map(|d| ring[(k + d) % n].clone())
                    .collect();
                for i in 0..RING_BITS {
                    let f = successor_of(&ring, me.ring.add_pow2(i));
                    if f.id != me.id {
                        routing.fingers[i] = Some(f.clone());
                    }
                }
            }
            let snapshot = Snapshot {
                routing: SavedRouting::of(&routing),
                ..Snapshot::default()
            };
            (usize::from(me.id.0) - 1, snapshot)
        })
        .collect()
}
