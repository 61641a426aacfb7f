//! A deterministic in-memory cluster: seeded delivery order, loss,
//! duplication, partitions, disks that confirm in order, and crashes that
//! keep only a random prefix of unconfirmed writes. Every event is followed
//! by the cross-node checks in `crate::checks`.

use crate::checks::History;
use crate::{Message, Raft, RaftConfig, Reply, Request, Role};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::{
    Boot, Context, Effect, Input, NodeId, PeerAddress, Protocol, RequestId, StorageWrite, TimerId,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub delay_max_ms: u64,
    pub disk_delay_max_ms: u64,
}

impl Faults {
    pub fn none() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            delay_max_ms: 5,
            disk_delay_max_ms: 2,
        }
    }

    pub fn harsh() -> Self {
        Self {
            loss: 0.05,
            duplicate: 0.05,
            delay_max_ms: 30,
            disk_delay_max_ms: 10,
        }
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        from: NodeId,
        to: NodeId,
        message: Message,
    },
    Timer {
        node: NodeId,
        timer: TimerId,
        incarnation: u64,
    },
    Disk {
        node: NodeId,
        incarnation: u64,
    },
}

struct Slot {
    raft: Option<Raft>,
    config: RaftConfig,
    durable: Vec<Vec<u8>>,
    pending: VecDeque<(u64, StorageWrite)>,
    timers: BTreeMap<TimerId, Duration>,
    incarnation: u64,
    booted_at: Duration,
}

pub struct Cluster {
    pub seed: u64,
    pub rng: ChaCha8Rng,
    pub now: Duration,
    pub faults: Faults,
    members: Vec<NodeId>,
    slots: BTreeMap<NodeId, Slot>,
    queue: BTreeMap<(Duration, u64), Event>,
    seq: u64,
    /// Directed links that drop everything.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub history: History,
    pub replies: Vec<(NodeId, RequestId, Reply)>,
    next_request: u64,
}

impl Cluster {
    /// `voters` start as the cluster; `joiners` start empty, waiting to be added.
    pub fn new(seed: u64, voters: u16, joiners: u16, config: RaftConfig, faults: Faults) -> Self {
        let members: Vec<NodeId> = (1..=voters).map(NodeId).collect();
        let mut cluster = Self {
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: Duration::ZERO,
            faults,
            members,
            slots: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            history: History::default(),
            replies: Vec::new(),
            next_request: 1,
        };
        for id in 1..=voters + joiners {
            let mut config = config.clone();
            config.join_existing = id > voters;
            let slot = Slot {
                raft: None,
                config,
                durable: Vec::new(),
                pending: VecDeque::new(),
                timers: BTreeMap::new(),
                incarnation: 0,
                booted_at: Duration::ZERO,
            };
            cluster.slots.insert(NodeId(id), slot);
            cluster.start(NodeId(id));
        }
        cluster
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.slots.keys().copied().collect()
    }

    pub fn node(&self, id: NodeId) -> Option<&Raft> {
        self.slots[&id].raft.as_ref()
    }

    pub fn live(&self) -> Vec<&Raft> {
        self.slots
            .values()
            .filter_map(|s| s.raft.as_ref())
            .collect()
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.live()
            .iter()
            .filter(|n| n.role() == Role::Leader)
            .max_by_key(|n| n.term())
            .map(|n| n.id())
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.insert((self.now + after, self.seq), event);
    }

    pub fn start(&mut self, id: NodeId) {
        let now = self.now;
        let slot = self.slots.get_mut(&id).expect("known node");
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        let raft = Raft::boot(Boot {
            id,
            address: &PeerAddress(format!("sim:{}", id.0)),
            members: &self.members,
            config: &slot.config,
            persisted: &slot.durable,
            now: Duration::ZERO,
            rng: &mut rng,
        });
        slot.raft = Some(raft);
        slot.booted_at = now;
        self.step(id, Input::Start);
    }

    /// Crashes `id`: unconfirmed writes survive only as a random prefix.
    pub fn crash(&mut self, id: NodeId) {
        let survive = self.rng.random_range(0..=self.slots[&id].pending.len());
        let slot = self.slots.get_mut(&id).expect("known node");
        for (_, write) in slot.pending.drain(..).take(survive) {
            apply_write(&mut slot.durable, &write);
        }
        slot.raft = None;
        slot.timers.clear();
        slot.incarnation += 1;
    }

    pub fn is_up(&self, id: NodeId) -> bool {
        self.slots[&id].raft.is_some()
    }

    pub fn request(&mut self, id: NodeId, request: Request) -> RequestId {
        let rid = RequestId(self.next_request);
        self.next_request += 1;
        self.step(id, Input::Request { id: rid, request });
        rid
    }

    pub fn reply_to(&self, rid: RequestId) -> Option<&Reply> {
        self.replies
            .iter()
            .find(|(_, r, _)| *r == rid)
            .map(|(_, _, reply)| reply)
    }

    fn step(&mut self, id: NodeId, input: Input<Raft>) {
        let slot = self.slots.get_mut(&id).expect("known node");
        let Some(raft) = slot.raft.as_mut() else {
            return;
        };
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        let mut effects = Vec::new();
        let mut ctx = Context::new(id, self.now - slot.booted_at, &mut rng, &mut effects);
        raft.step(&mut ctx, input);
        for effect in effects {
            self.effect(id, effect);
        }
        let live: Vec<&Raft> = self
            .slots
            .values()
            .filter_map(|s| s.raft.as_ref())
            .collect();
        if let Err(violation) = self.history.observe(&live) {
            panic!("seed {}: at {:?}: {violation}", self.seed, self.now);
        }
    }

    fn effect(&mut self, id: NodeId, effect: Effect<Raft>) {
        match effect {
            Effect::Send { to, message, .. } => self.send(id, to, message),
            Effect::Broadcast { .. } => panic!("raft does not broadcast"),
            // The harness routes by id: every node is reachable.
            Effect::AddPeer { .. } | Effect::RemovePeer { .. } => {}
            Effect::Persist { token, write } => {
                let incarnation = self.slots[&id].incarnation;
                self.slots
                    .get_mut(&id)
                    .expect("known")
                    .pending
                    .push_back((token, write));
                let delay = self.rng.random_range(0..=self.faults.disk_delay_max_ms);
                self.schedule(
                    Duration::from_millis(delay),
                    Event::Disk {
                        node: id,
                        incarnation,
                    },
                );
            }
            Effect::Reply { request, reply } => {
                assert!(
                    self.reply_to(request).is_none(),
                    "seed {}: two replies to {request}",
                    self.seed
                );
                self.replies.push((id, request, reply));
            }
            Effect::SetTimer { timer, after } => {
                let incarnation = self.slots[&id].incarnation;
                self.slots
                    .get_mut(&id)
                    .expect("known")
                    .timers
                    .insert(timer, self.now + after);
                self.schedule(
                    after,
                    Event::Timer {
                        node: id,
                        timer,
                        incarnation,
                    },
                );
            }
            Effect::CancelTimer { timer } => {
                self.slots
                    .get_mut(&id)
                    .expect("known")
                    .timers
                    .remove(&timer);
            }
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, message: Message) {
        if self.cut.contains(&(from, to)) || self.rng.random_bool(self.faults.loss) {
            return;
        }
        let copies = if self.rng.random_bool(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.random_range(1..=self.faults.delay_max_ms.max(1));
            let message = message.clone();
            self.schedule(
                Duration::from_millis(delay),
                Event::Deliver { from, to, message },
            );
        }
    }

    /// Runs events until virtual time `until`.
    pub fn run_until(&mut self, until: Duration) {
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((at, _), event) = entry.remove_entry();
            self.now = at;
            self.handle(event);
        }
        self.now = until;
    }

    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + Duration::from_millis(ms));
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, message } => {
                if !self.cut.contains(&(from, to)) {
                    self.step(to, Input::Message { from, message });
                }
            }
            Event::Timer {
                node,
                timer,
                incarnation,
            } => {
                let slot = &self.slots[&node];
                if slot.incarnation == incarnation && slot.timers.get(&timer) == Some(&self.now) {
                    self.slots
                        .get_mut(&node)
                        .expect("known")
                        .timers
                        .remove(&timer);
                    self.step(node, Input::Timer(timer));
                }
            }
            Event::Disk { node, incarnation } => {
                let slot = self.slots.get_mut(&node).expect("known");
                if slot.incarnation != incarnation {
                    return;
                }
                let (token, write) = slot.pending.pop_front().expect("one disk event per write");
                apply_write(&mut slot.durable, &write);
                self.step(node, Input::Persisted { token });
            }
        }
    }

    /// Cuts `group` off from everyone else, both ways.
    pub fn partition(&mut self, group: &[NodeId]) {
        for a in self.ids() {
            for b in self.ids() {
                if group.contains(&a) != group.contains(&b) {
                    self.cut.insert((a, b));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }
}
