//! CPU cost of the protocol cores' hot paths, with no I/O and no simulated
//! network: raft and bftlist requests carried to completion by a lockstep
//! driver (messages delivered in order after a fixed virtual delay — none
//! for raft — and every write durable at once), and the wire path of their
//! real messages (postcard + frame, both ways).
//!
//! `cargo bench -p skein-sim --bench cores` — one core. Criterion reports
//! time per element: a committed put, an executed append, an encoded or
//! decoded message. The steps one operation took are printed once per
//! group, so a figure can be read as time per step too. bftlist's
//! event-driven failure detectors answer tokens with tokens, so its step
//! count (and time per append) grows as the link delay shrinks; time per
//! step is the figure that does not depend on that choice.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_bft::{BftConfig, BftMessage, BftNode, BftReply, BftRequest, Op as BftOp};
use skein_core::envelope::{decode_prefix, Frame};
use skein_core::protocol::{Boot, Context, Effect, Input, PeerAddress, Protocol, TimerId};
use skein_core::{codec, FrameKind, NodeId, RequestId};
use skein_raft::{Message as RaftMessage, Raft, RaftConfig, Reply, Request, Role};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

/// Inputs handled in one `settle` at most: a driver bug must not hang the bench.
const SETTLE_STEPS_MAX: u64 = 1_000_000;
/// Virtual time a cluster gets to elect a leader or execute a request.
const PROGRESS_TIME_MAX: Duration = Duration::from_secs(30);
const FRAME_PAYLOAD_MAX: usize = 1 << 20;
/// bftlist's failure detectors answer tokens with tokens: with no delay
/// between them the replicas would never fall quiet. Loopback-like.
const BFT_LINK_DELAY: Duration = Duration::from_micros(200);

/// Nodes of one protocol stepped in lockstep, in virtual time: a message
/// arrives `link_delay` after it is sent (zero: in the same instant, after
/// what is already queued), a persist is durable at once, timers and ticks
/// fire on time. Inputs due at the same instant are handled in FIFO order.
struct Lockstep<P: Protocol> {
    nodes: Vec<P>,
    now: Duration,
    link_delay: Duration,
    rng: ChaCha8Rng,
    /// (due, sequence) → (node, input).
    due: BTreeMap<(Duration, u64), (usize, Input<P>)>,
    sequence: u64,
    /// (node, timer) → deadline.
    timers: BTreeMap<(usize, u64), Duration>,
    next_tick: Vec<Duration>,
    replies: Vec<(usize, RequestId, P::Reply)>,
    /// Every message sent, when recording (to feed the wire benchmarks).
    sent: Option<Vec<P::Message>>,
    steps: u64,
    next_request: u64,
}

impl<P: Protocol> Lockstep<P> {
    fn boot(n: u16, config: &P::Config, link_delay: Duration) -> Self {
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let nodes: Vec<P> = members
            .iter()
            .map(|&id| {
                P::boot(Boot {
                    id,
                    address: &PeerAddress(format!("sim:{}", id.0)),
                    members: &members,
                    config,
                    persisted: &[],
                    now: Duration::ZERO,
                    rng: &mut rng,
                })
            })
            .collect();
        let next_tick = nodes.iter().map(|p| p.tick_interval()).collect();
        let mut lockstep = Self {
            nodes,
            now: Duration::ZERO,
            link_delay,
            rng,
            due: BTreeMap::new(),
            sequence: 0,
            timers: BTreeMap::new(),
            next_tick,
            replies: Vec::new(),
            sent: None,
            steps: 0,
            next_request: 0,
        };
        for node in 0..lockstep.nodes.len() {
            lockstep.push(Duration::ZERO, node, Input::Start);
        }
        lockstep.settle();
        lockstep
    }

    fn push(&mut self, after: Duration, node: usize, input: Input<P>) {
        self.sequence += 1;
        self.due
            .insert((self.now + after, self.sequence), (node, input));
    }

    fn request(&mut self, node: usize, request: P::Request) -> RequestId {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.push(Duration::ZERO, node, Input::Request { id, request });
        id
    }

    /// Handles every input due by now, including those they cause by now.
    fn settle(&mut self) {
        let mut effects = Vec::new();
        for _ in 0..SETTLE_STEPS_MAX {
            let Some(entry) = self.due.first_entry() else {
                return;
            };
            if entry.key().0 > self.now {
                return;
            }
            let (node, input) = entry.remove();
            let id = NodeId(node as u16 + 1);
            let mut ctx = Context::new(id, self.now, &mut self.rng, &mut effects);
            self.nodes[node].step(&mut ctx, input);
            self.steps += 1;
            for effect in effects.drain(..) {
                self.apply(node, effect);
            }
        }
        panic!("the cluster did not settle within {SETTLE_STEPS_MAX} steps at one instant");
    }

    fn apply(&mut self, node: usize, effect: Effect<P>) {
        let from = NodeId(node as u16 + 1);
        let delay = self.link_delay;
        match effect {
            Effect::Send { to, message, .. } => {
                self.record(&message);
                let to = usize::from(to.0) - 1;
                self.push(delay, to, Input::Message { from, message });
            }
            Effect::Broadcast { message, .. } => {
                self.record(&message);
                for to in (0..self.nodes.len()).filter(|&to| to != node) {
                    let message = message.clone();
                    self.push(delay, to, Input::Message { from, message });
                }
            }
            Effect::Persist { token, .. } => {
                self.push(Duration::ZERO, node, Input::Persisted { token });
            }
            Effect::Reply { request, reply } => self.replies.push((node, request, reply)),
            Effect::SetTimer { timer, after } => {
                self.timers.insert((node, timer.0), self.now + after);
            }
            Effect::CancelTimer { timer } => {
                self.timers.remove(&(node, timer.0));
            }
            Effect::AddPeer { .. } | Effect::RemovePeer { .. } => {}
        }
    }

    fn record(&mut self, message: &P::Message) {
        if let Some(sent) = &mut self.sent {
            sent.push(message.clone());
        }
    }

    /// Moves virtual time to the next due input, timer or tick, and handles
    /// everything due then.
    fn advance(&mut self) {
        let message = self
            .due
            .keys()
            .next()
            .map(|&(at, _)| (at, usize::MAX, None));
        let timer = self.timers.iter().min_by_key(|(_, at)| **at);
        let timer = timer.map(|(&(node, t), &at)| (at, node, Some(t)));
        let tick = (0..self.nodes.len()).map(|node| (self.next_tick[node], node, None));
        let (at, node, timer) = tick.chain(timer).chain(message).min().expect("nodes tick");
        self.now = self.now.max(at);
        match (node, timer) {
            (usize::MAX, _) => {}
            (node, Some(t)) => {
                self.timers.remove(&(node, t));
                self.push(Duration::ZERO, node, Input::Timer(TimerId(t)));
            }
            (node, None) => {
                self.next_tick[node] = at + self.nodes[node].tick_interval();
                self.push(Duration::ZERO, node, Input::Tick);
            }
        }
        self.settle();
    }

    /// Advances virtual time until `done` holds; panics past [`PROGRESS_TIME_MAX`].
    fn advance_until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        let deadline = self.now + PROGRESS_TIME_MAX;
        self.settle();
        while !done(self) {
            assert!(
                self.now < deadline,
                "no progress within {PROGRESS_TIME_MAX:?} of virtual time"
            );
            self.advance();
        }
    }
}

fn raft_cluster() -> (Lockstep<Raft>, usize) {
    let mut raft = Lockstep::<Raft>::boot(3, &RaftConfig::default(), Duration::ZERO);
    let leader = |c: &Lockstep<Raft>| c.nodes.iter().position(|n| n.status().role == Role::Leader);
    raft.advance_until(|c| leader(c).is_some());
    let leader = leader(&raft).expect("a leader");
    (raft, leader)
}

/// Puts `batch` keys at the leader and carries them until all are acknowledged.
fn raft_puts(raft: &mut Lockstep<Raft>, leader: usize, batch: usize, round: u64) {
    let first = raft.replies.len();
    for i in 0..batch {
        let key = format!("bench/{:08}", (round * batch as u64 + i as u64) % 1_000);
        let value = "v".repeat(64);
        raft.request(leader, Request::Put { key, value });
    }
    raft.advance_until(|c| c.replies.len() >= first + batch);
    let written = raft.replies[first..]
        .iter()
        .filter(|(_, _, r)| matches!(r, Reply::Written { .. }))
        .count();
    assert_eq!(written, batch, "every put is acknowledged as written");
    raft.replies.clear();
}

fn raft_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("raft-3-nodes");
    for batch in [1usize, 64] {
        let (mut raft, leader) = raft_cluster();
        let before = raft.steps;
        raft_puts(&mut raft, leader, batch, 0);
        eprintln!(
            "raft: {batch} put(s) of 64 B took {} steps over 3 nodes",
            raft.steps - before
        );
        let mut round = 1;
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new("put-committed", batch), |b| {
            b.iter(|| {
                raft_puts(&mut raft, leader, batch, round);
                round += 1;
            })
        });
    }
    group.finish();
}

/// Submits one append to every replica and runs until f+1 = 2 have executed it.
fn bft_append(bft: &mut Lockstep<BftNode>, ts: u64) {
    for node in 0..bft.nodes.len() {
        let op = BftOp::Append(ts as i64);
        bft.request(node, BftRequest::Submit { client: 0, ts, op });
    }
    let executed = |c: &Lockstep<BftNode>| {
        let done = |(_, _, r): &&(usize, RequestId, BftReply)| matches!(r, BftReply::Executed { ts: t, .. } if *t == ts);
        c.replies.iter().filter(done).count() >= 2
    };
    bft.advance_until(executed);
    bft.replies.clear();
}

fn idle_tick(bft: &mut Lockstep<BftNode>) {
    let end = bft.now + Duration::from_millis(BftConfig::default().tick_interval_ms);
    bft.advance_until(|c| c.now >= end);
}

fn bft_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("bftlist-6-nodes");
    group.sample_size(20);
    let mut bft = Lockstep::<BftNode>::boot(6, &BftConfig::default(), BFT_LINK_DELAY);
    // Until a view is established and serving.
    bft_append(&mut bft, 1);
    let before = (bft.steps, bft.now);
    bft_append(&mut bft, 2);
    eprintln!(
        "bftlist: one append took {} steps over 6 replicas and {:?} of virtual time (100 ms ticks)",
        bft.steps - before.0,
        bft.now - before.1
    );
    let mut ts = 3;
    group.throughput(Throughput::Elements(1));
    group.bench_function("append-executed", |b| {
        b.iter(|| {
            bft_append(&mut bft, ts);
            ts += 1;
        })
    });
    // The background cost: 100 ms (one tick of every replica) and what it sends, no request pending.
    let before = bft.steps;
    idle_tick(&mut bft);
    eprintln!(
        "bftlist: an idle 100 ms took {} steps over 6 replicas",
        bft.steps - before
    );
    group.bench_function("idle-100ms", |b| b.iter(|| idle_tick(&mut bft)));
    group.finish();
}

/// The largest message of each kind seen while the cluster served requests.
fn largest_by_kind<P: Protocol>(sent: &[P::Message]) -> BTreeMap<&'static str, P::Message> {
    let mut largest: BTreeMap<&'static str, (usize, P::Message)> = BTreeMap::new();
    for message in sent {
        let len = codec::encode(message, FRAME_PAYLOAD_MAX)
            .expect("encodes")
            .len();
        let entry = largest.entry(P::message_kind(message));
        let slot = entry.or_insert((0, message.clone()));
        if len > slot.0 {
            *slot = (len, message.clone());
        }
    }
    largest.into_iter().map(|(k, (_, m))| (k, m)).collect()
}

fn wire_group<P: Protocol>(c: &mut Criterion, name: &str, messages: BTreeMap<&str, P::Message>) {
    let mut group = c.benchmark_group(format!("wire-{name}"));
    for (kind, message) in messages {
        let frame = |payload| Frame {
            kind: FrameKind::Message,
            sender: NodeId(1),
            receiver: NodeId(2),
            protocol: P::PROTOCOL_ID,
            payload,
        };
        let bytes = frame(codec::encode(&message, FRAME_PAYLOAD_MAX).unwrap()).encode();
        eprintln!("{name} {kind}: {} bytes on the wire", bytes.len());
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("encode", kind), &message, |b, m| {
            b.iter(|| black_box(frame(codec::encode(m, FRAME_PAYLOAD_MAX).unwrap()).encode()))
        });
        group.bench_with_input(BenchmarkId::new("decode", kind), &bytes, |b, bytes| {
            b.iter(|| {
                let (frame, _) = decode_prefix(bytes, FRAME_PAYLOAD_MAX, None)
                    .unwrap()
                    .expect("a whole frame");
                black_box(codec::decode::<P::Message>(&frame.payload, FRAME_PAYLOAD_MAX).unwrap())
            })
        });
    }
    group.finish();
}

fn wire(c: &mut Criterion) {
    let (mut raft, leader) = raft_cluster();
    raft.sent = Some(Vec::new());
    raft_puts(&mut raft, leader, 64, 0);
    let sent = raft.sent.take().unwrap_or_default();
    let raft_kinds = largest_by_kind::<Raft>(&sent);
    let append = |m: &RaftMessage| matches!(m, RaftMessage::AppendEntries { entries, .. } if !entries.is_empty());
    assert!(raft_kinds.values().any(append), "a batch was replicated");
    wire_group::<Raft>(c, "raft", raft_kinds);

    let mut bft = Lockstep::<BftNode>::boot(6, &BftConfig::default(), BFT_LINK_DELAY);
    bft_append(&mut bft, 1);
    bft.sent = Some(Vec::new());
    for ts in 2..12 {
        bft_append(&mut bft, ts);
    }
    let sent: Vec<BftMessage> = bft.sent.take().unwrap_or_default();
    wire_group::<BftNode>(c, "bftlist", largest_by_kind::<BftNode>(&sent));
}

criterion_group!(benches, raft_step, bft_step, wire);
criterion_main!(benches);
