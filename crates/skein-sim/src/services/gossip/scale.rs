//! A lean driver for gossip at scale (hundreds to thousands of nodes), for
//! measurements the general simulator cannot make: it caps clusters at 64
//! nodes and keeps per-link state for every pair. Here a message is one
//! event with a random latency and an independent loss; crashes are
//! immediate. Every node starts from a snapshot holding the full membership
//! (as if the whole overlay had restarted), so runs measure broadcast and
//! failure detection, not the join of a thousand nodes.
//!
//! At 10,000 nodes full views would be 10⁸ member records; runs that large
//! use [`ScaleNet::with_view`] (each node boots knowing a random subset).
//!
//! Deterministic: one seed decides latencies, losses and every core's rng.

use rand::seq::IteratorRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::{Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use skein_gossip::identity::Identity;
use skein_gossip::message::{Fact, Update};
use skein_gossip::storage::Snapshot;
use skein_gossip::{Gossip, GossipConfig, GossipMessage, GossipReply, GossipRequest, MessageId};
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

enum Event {
    Tick(usize),
    Deliver {
        from: usize,
        to: usize,
        message: GossipMessage,
    },
}

/// N gossip cores on the lean network.
pub struct ScaleNet {
    pub nodes: Vec<Option<Gossip>>,
    pub now_us: u64,
    pub sent: BTreeMap<&'static str, u64>,
    pub lost: u64,
    net: NetModel,
    tick_us: u64,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    next_seq: u64,
    effects: Vec<Effect<Gossip>>,
}

impl ScaleNet {
    /// Boots `n` nodes (ids 1..=n), each knowing all the others (as many
    /// as `members_max` allows).
    pub fn new(n: u16, config: &GossipConfig, net: NetModel, seed: u64) -> Self {
        Self::with_view(n, config, net, seed, config.members_max)
    }

    /// Boots `n` nodes, each knowing a random `view` of the others (all of
    /// them if `view >= n - 1`). A partial view keeps 10,000 nodes in a few
    /// GB: full views are N² member records. Membership then grows through
    /// syncs and piggybacked updates, as in a real overlay.
    pub fn with_view(n: u16, config: &GossipConfig, net: NetModel, seed: u64, view: usize) -> Self {
        assert!(view >= 1 && n >= 2, "a node knows at least one other");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let identities: Vec<Identity> = (0..n).map(|_| Identity::generate(&mut rng)).collect();
        let alive: Vec<Update> = identities
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let node = NodeId(i as u16 + 1);
                let fact = Fact::Alive {
                    key: id.public(),
                    address: address(node),
                    version: skein_gossip::GOSSIP_VERSION,
                    beacon: false,
                };
                // Incarnation 1: what each node uses after booting from a
                // snapshot of 0, so no one starts by announcing news.
                Update::signed(id, node, 1, fact, node)
            })
            .collect();
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let view = view.min(usize::from(n) - 1);
        let mut nodes = Vec::with_capacity(usize::from(n));
        for (i, identity) in identities.iter().enumerate() {
            let id = NodeId(i as u16 + 1);
            let known: Vec<usize> = (0..usize::from(n))
                .filter(|&j| j != i)
                .choose_multiple(&mut rng, view);
            let snapshot = Snapshot {
                secret: identity.secret(),
                incarnation: 0,
                boots: 0,
                members: known.iter().map(|&j| alive[j].clone()).collect(),
                bindings: known
                    .iter()
                    .map(|&j| (NodeId(j as u16 + 1), identities[j].public()))
                    .collect(),
                delivered_ids: Vec::new(),
                delivered_seq: 0,
                floors: Vec::new(),
            };
            let records = vec![snapshot.encode()];
            let node = Gossip::boot(Boot {
                id,
                address: &address(id),
                members: &members,
                config,
                persisted: &records,
                now: Duration::ZERO,
                rng: &mut rng,
            });
            nodes.push(Some(node));
        }
        let mut net = Self {
            nodes,
            now_us: 0,
            sent: BTreeMap::new(),
            lost: 0,
            net,
            tick_us: config.tick_ms * 1_000,
            rng,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_seq: 0,
            effects: Vec::new(),
        };
        for i in 0..usize::from(n) {
            net.step(i, Input::Start);
            // The snapshot write is durable at once here.
            net.step(i, Input::Persisted { token: 1 });
            let phase = net.rng.random_range(0..net.tick_us);
            net.push(phase, Event::Tick(i));
        }
        net
    }

    fn push(&mut self, at_us: u64, event: Event) {
        self.next_seq += 1;
        self.queue.push(Reverse((at_us, self.next_seq)));
        self.events.insert(self.next_seq, event);
    }

    fn step(&mut self, i: usize, input: Input<Gossip>) {
        let Some(core) = self.nodes[i].as_mut() else {
            return;
        };
        let mut effects = std::mem::take(&mut self.effects);
        let mut ctx = Context::new(
            core.id(),
            Duration::from_micros(self.now_us),
            &mut self.rng,
            &mut effects,
        );
        core.step(&mut ctx, input);
        for effect in effects.drain(..) {
            if let Effect::Send { to, message, .. } = effect {
                *self.sent.entry(message.kind()).or_default() += 1;
                if self.rng.random_range(0..1_000_000) < self.net.loss_ppm {
                    self.lost += 1;
                    continue;
                }
                let latency = self
                    .rng
                    .random_range(self.net.latency_min_us..=self.net.latency_max_us);
                let to = usize::from(to.0) - 1;
                self.push(
                    self.now_us + latency,
                    Event::Deliver {
                        from: i,
                        to,
                        message,
                    },
                );
            }
        }
        self.effects = effects;
    }

    /// Runs until virtual time `until_us`.
    pub fn run_until(&mut self, until_us: u64) {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until_us {
                break;
            }
            self.queue.pop();
            self.now_us = at;
            match self
                .events
                .remove(&seq)
                .expect("every queued event is stored")
            {
                Event::Tick(i) => {
                    if self.nodes[i].is_some() {
                        self.step(i, Input::Tick);
                        self.push(at + self.tick_us, Event::Tick(i));
                    }
                }
                Event::Deliver { from, to, message } => {
                    let input = Input::Message {
                        from: NodeId(from as u16 + 1),
                        message,
                    };
                    self.step(to, input);
                }
            }
        }
        self.now_us = until_us;
    }

    pub fn broadcast(&mut self, node: usize, payload: &str) -> MessageId {
        let mut effects = Vec::new();
        let core = self.nodes[node]
            .as_mut()
            .expect("a running node broadcasts");
        let mut ctx = Context::new(
            core.id(),
            Duration::from_micros(self.now_us),
            &mut self.rng,
            &mut effects,
        );
        let request = GossipRequest::Broadcast {
            payload: payload.into(),
        };
        core.step(
            &mut ctx,
            Input::Request {
                id: RequestId(1),
                request,
            },
        );
        let mut id = None;
        for effect in effects {
            match effect {
                Effect::Reply {
                    reply: GossipReply::Broadcasted { id: text },
                    ..
                } => {
                    id = text.parse().ok();
                }
                Effect::Send { to, message, .. } => {
                    *self.sent.entry(message.kind()).or_default() += 1;
                    let latency = self
                        .rng
                        .random_range(self.net.latency_min_us..=self.net.latency_max_us);
                    let to = usize::from(to.0) - 1;
                    self.push(
                        self.now_us + latency,
                        Event::Deliver {
                            from: node,
                            to,
                            message,
                        },
                    );
                }
                _ => {}
            }
        }
        id.expect("a running node accepts a broadcast")
    }

    pub fn crash(&mut self, node: usize) {
        self.nodes[node] = None;
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &Gossip)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// When each running node delivered `id` (virtual µs), `None` if it has not.
    pub fn delivery_times(&self, id: MessageId) -> Vec<Option<(u64, u16)>> {
        self.running()
            .map(|(_, n)| {
                n.plumtree()
                    .find(id)
                    .map(|s| (s.delivered_at.as_micros() as u64, s.hops))
            })
            .collect()
    }

    pub fn total_sent(&self, kinds: &[&str]) -> u64 {
        kinds
            .iter()
            .map(|k| self.sent.get(k).copied().unwrap_or(0))
            .sum()
    }
}

pub fn address(id: NodeId) -> PeerAddress {
    PeerAddress(format!("sim:{id}"))
}

/// Messages that carry or repair broadcasts (Plumtree's own traffic).
pub const BROADCAST_KINDS: [&str; 4] = ["gossip", "ihave", "graft", "prune"];
