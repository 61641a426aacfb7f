//! Core tests: single-handler tests that assert the exact effects of one
//! step (`handlers.rs`), and small clusters driven by an in-memory,
//! lossless, instant network (`cluster.rs`, harness below).

mod cluster;
mod handlers;
mod membership;

use crate::{Gossip, GossipConfig, GossipMessage, GossipReply, GossipRequest};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::{Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

pub fn address(id: u16) -> PeerAddress {
    PeerAddress(format!("{id}@10.0.{}.{}:5000:7000", id / 200, id % 200 + 1))
}

pub fn boot_node(id: u16, config: &GossipConfig, persisted: &[Vec<u8>], seed: u64) -> Gossip {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ u64::from(id) << 32);
    let members: Vec<NodeId> = config
        .boot
        .iter()
        .map(|&b| NodeId(b))
        .chain([NodeId(id)])
        .collect();
    let address = address(id);
    Gossip::boot(Boot {
        id: NodeId(id),
        address: &address,
        members: &members,
        config,
        persisted,
        now: Duration::ZERO,
        rng: &mut rng,
    })
}

/// Runs one step and returns its effects.
pub fn step(node: &mut Gossip, now: Duration, input: Input<Gossip>) -> Vec<Effect<Gossip>> {
    let mut rng = ChaCha8Rng::seed_from_u64(now.as_millis() as u64 ^ u64::from(node.id().0));
    let mut effects = Vec::new();
    let mut ctx = Context::new(node.id(), now, &mut rng, &mut effects);
    node.step(&mut ctx, input);
    effects
}

pub fn sends(effects: &[Effect<Gossip>]) -> Vec<(NodeId, &GossipMessage)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, message, .. } => Some((*to, message)),
            _ => None,
        })
        .collect()
}

pub fn test_config(boot: &[u16]) -> GossipConfig {
    GossipConfig {
        boot: boot.to_vec(),
        network_sync_interval: 2,
        network_sync_jitter: 1,
        probe_interval_ms: 200,
        probe_timeout_ms: 80,
        suspicion_timeout_ms: 1_000,
        dead_expiry_ms: 5_000,
        graft_timeout_ms: 100,
        tick_ms: 20,
        ..GossipConfig::default()
    }
}

/// Nodes on an instant, lossless network; crashed nodes drop what they get.
pub struct Cluster {
    pub nodes: BTreeMap<u16, Gossip>,
    pub disks: BTreeMap<u16, Vec<Vec<u8>>>,
    pub crashed: BTreeSet<u16>,
    pub now: Duration,
    pub replies: Vec<(u16, GossipReply)>,
    pub delivered_copies: u64,
    /// Each boot draws from its own seed, so a node started afresh gets a new key.
    boots: u64,
    queue: VecDeque<(NodeId, NodeId, GossipMessage)>,
    durable: VecDeque<(u16, u64)>,
}

impl Cluster {
    pub fn new(ids: &[u16], config: &GossipConfig) -> Self {
        let mut cluster = Self {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            crashed: BTreeSet::new(),
            now: Duration::ZERO,
            replies: Vec::new(),
            delivered_copies: 0,
            boots: 0,
            queue: VecDeque::new(),
            durable: VecDeque::new(),
        };
        for &id in ids {
            cluster.start(id, config);
        }
        cluster
    }

    pub fn start(&mut self, id: u16, config: &GossipConfig) {
        let disk = self.disks.get(&id).cloned().unwrap_or_default();
        self.boots += 1;
        let mut node = boot_node(id, config, &disk, self.boots);
        let effects = step(&mut node, self.now, Input::Start);
        self.nodes.insert(id, node);
        self.crashed.remove(&id);
        self.apply(id, effects);
        self.drain();
    }

    pub fn crash(&mut self, id: u16) {
        self.crashed.insert(id);
    }

    fn apply(&mut self, id: u16, effects: Vec<Effect<Gossip>>) {
        for effect in effects {
            match effect {
                Effect::Send { to, message, .. } => self.queue.push_back((NodeId(id), to, message)),
                Effect::Persist { write, token } => {
                    apply_write(self.disks.entry(id).or_default(), &write);
                    self.durable.push_back((id, token));
                }
                Effect::Reply { reply, .. } => self.replies.push((id, reply)),
                _ => {}
            }
        }
    }

    /// Puts `message` on the wire from `from` to `to` and runs the network dry.
    pub fn inject(&mut self, from: u16, to: u16, message: GossipMessage) {
        self.queue.push_back((NodeId(from), NodeId(to), message));
        self.drain();
    }

    /// Node `from` broadcasts `payload` now; returns the message id.
    pub fn broadcast(&mut self, from: u16, payload: &str) -> String {
        let request = GossipRequest::Broadcast {
            payload: payload.into(),
        };
        match self.request(from, request) {
            GossipReply::Broadcasted { id } => id,
            other => panic!("node {from} refused a broadcast: {other:?}"),
        }
    }

    pub fn request(&mut self, id: u16, request: GossipRequest) -> GossipReply {
        let node = self.nodes.get_mut(&id).expect("a started node");
        let effects = step(
            node,
            self.now,
            Input::Request {
                id: RequestId(1),
                request,
            },
        );
        self.apply(id, effects);
        self.replies.pop().expect("every request is answered").1
    }

    fn drain(&mut self) {
        while let Some((id, token)) = self.durable.pop_front() {
            if self.crashed.contains(&id) {
                continue;
            }
            let node = self.nodes.get_mut(&id).expect("a started node");
            let effects = step(node, self.now, Input::Persisted { token });
            self.apply(id, effects);
        }
        let mut budget = 1_000_000;
        while let Some((from, to, message)) = self.queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "messages keep flowing without bound");
            if self.crashed.contains(&to.0) || self.crashed.contains(&from.0) {
                continue;
            }
            if matches!(message, GossipMessage::Gossip { .. }) {
                self.delivered_copies += 1;
            }
            let Some(node) = self.nodes.get_mut(&to.0) else {
                continue;
            };
            let effects = step(node, self.now, Input::Message { from, message });
            self.apply(to.0, effects);
        }
    }

    /// Advances the clock by `span`, ticking every node each `tick_ms`.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        self.drain();
        while self.now < end {
            self.now += Duration::from_millis(20);
            let ids: Vec<u16> = self
                .nodes
                .keys()
                .copied()
                .filter(|id| !self.crashed.contains(id))
                .collect();
            for id in ids {
                let node = self.nodes.get_mut(&id).expect("listed");
                let effects = step(node, self.now, Input::Tick);
                self.apply(id, effects);
            }
            self.drain();
        }
    }

    pub fn state(&self, at: u16, of: u16) -> Option<crate::MemberState> {
        self.nodes[&at].state_of(NodeId(of))
    }
}
