//! A small deterministic cluster harness: n replicas, a seeded RNG, a
//! virtual clock, messages delivered after random delays (so in random
//! order) with optional loss, state corruption and Byzantine behaviours.
//! Shaped like skein-sim's driver (boot, Start, Tick, Message, Request and the
//! effect list) so these scenarios can move onto it unchanged in substance.

use crate::message::{BftMessage, BftReply, BftRequest};
use crate::node::BftNode;
use crate::rep::compatible;
use crate::{BftConfig, ByzantineBehaviour, Op, View};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_core::{Context, Effect, Input, NodeId, Protocol, RequestId, TimerId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

enum Event {
    Tick(usize),
    /// A timer of node `k`; stale when `generation` is no longer the armed one.
    Timer {
        k: usize,
        timer: TimerId,
        generation: u64,
    },
    Deliver {
        from: usize,
        to: usize,
        msg: BftMessage,
    },
}

pub struct Cluster {
    pub nodes: Vec<BftNode>,
    pub ids: Vec<NodeId>,
    pub now_ms: u64,
    pub rng: ChaCha8Rng,
    pub seed: u64,
    events: BTreeMap<(u64, u64), Event>,
    next_event: u64,
    /// Armed timers: (node, timer) → the generation that may fire.
    timers: BTreeMap<(usize, TimerId), u64>,
    pub tick_ms: u64,
    pub delay_ms_max: u64,
    pub loss: f64,
    next_request: u64,
    /// Replies by node: (request id, reply).
    pub replies: Vec<Vec<(RequestId, BftReply)>>,
    /// Nodes that are Byzantine (excluded from checks).
    pub byzantine: BTreeSet<usize>,
    /// Append values issued by clients.
    pub issued: BTreeSet<i64>,
    /// Appended value → (client, ts) that issued it.
    pub requests: BTreeMap<i64, (u32, u64)>,
    /// Rep messages sent, the log entries they carried, and the entries of
    /// the senders' whole logs (what they carried before log deltas).
    pub rep_traffic: RepTraffic,
    /// When set, every Rep message's encoded size with its log delta and
    /// with the sender's whole log instead (what it was before deltas),
    /// with the sender's last executed seq: (seq, with the list, bytes,
    /// whole-log bytes).
    pub rep_sizes: Option<Vec<(i64, bool, usize, usize)>>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RepTraffic {
    pub messages: u64,
    pub entries_sent: u64,
    pub entries_whole: u64,
    pub with_machine: u64,
    pub entries_with_machine: u64,
    pub whole_light: u64,
}

impl Cluster {
    pub fn new(n: usize, config: BftConfig, seed: u64) -> Self {
        let ids: Vec<NodeId> = (1..=n as u16).map(NodeId).collect();
        let nodes: Vec<BftNode> = ids
            .iter()
            .map(|&id| BftNode::new(id, &ids, &config))
            .collect();
        let mut c = Cluster {
            nodes,
            ids,
            now_ms: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            seed,
            events: BTreeMap::new(),
            next_event: 0,
            timers: BTreeMap::new(),
            tick_ms: config.tick_interval_ms,
            delay_ms_max: 30,
            loss: 0.0,
            next_request: 0,
            replies: vec![Vec::new(); n],
            byzantine: BTreeSet::new(),
            issued: BTreeSet::new(),
            requests: BTreeMap::new(),
            rep_traffic: RepTraffic::default(),
            rep_sizes: None,
        };
        for k in 0..n {
            c.step(k, Input::Start);
            let at = c.rng.random_range(0..c.tick_ms);
            c.push(at, Event::Tick(k));
        }
        c
    }

    pub fn n(&self) -> usize {
        self.nodes.len()
    }

    pub fn correct(&self) -> Vec<usize> {
        (0..self.n())
            .filter(|k| !self.byzantine.contains(k))
            .collect()
    }

    pub fn set_byzantine(&mut self, k: usize, b: Option<ByzantineBehaviour>) {
        self.nodes[k].set_byzantine(b);
        if b.is_some() {
            self.byzantine.insert(k);
        } else {
            self.byzantine.remove(&k);
        }
    }

    pub fn corrupt(&mut self, k: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        self.nodes[k].corrupt(&mut rng);
    }

    fn push(&mut self, at: u64, e: Event) {
        self.next_event += 1;
        self.events.insert((at, self.next_event), e);
    }

    fn step(&mut self, k: usize, input: Input<BftNode>) {
        let mut effects = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(self.rng.random());
        {
            let mut ctx = Context::new(
                self.ids[k],
                Duration::from_millis(self.now_ms),
                &mut rng,
                &mut effects,
            );
            self.nodes[k].step(&mut ctx, input);
        }
        for e in effects {
            match e {
                Effect::Send { to, message, .. } => {
                    let to = self.ids.iter().position(|&i| i == to).unwrap();
                    self.transmit(k, to, message);
                }
                Effect::Broadcast { message, .. } => {
                    for to in (0..self.n()).filter(|&t| t != k) {
                        self.transmit(k, to, message.clone());
                    }
                }
                Effect::Reply { request, reply } => self.replies[k].push((request, reply)),
                Effect::SetTimer { timer, after } => {
                    // The clock counts whole ms: round up, and never fire
                    // within the step that armed it.
                    let after_ms = after.as_micros().div_ceil(1_000).max(1) as u64;
                    let generation = self.next_event;
                    self.timers.insert((k, timer), generation);
                    let at = self.now_ms + after_ms;
                    self.push(
                        at,
                        Event::Timer {
                            k,
                            timer,
                            generation,
                        },
                    );
                }
                Effect::CancelTimer { timer } => {
                    self.timers.remove(&(k, timer));
                }
                Effect::Persist { .. } | Effect::AddPeer { .. } | Effect::RemovePeer { .. } => {}
            }
        }
    }

    fn transmit(&mut self, from: usize, to: usize, msg: BftMessage) {
        if let BftMessage::Rep(m) = &msg {
            self.rep_traffic.messages += 1;
            self.rep_traffic.entries_sent += m.rs.rlog.len() as u64;
            self.rep_traffic.entries_whole += u64::from(m.log.len);
            if m.with_machine {
                self.rep_traffic.with_machine += 1;
                self.rep_traffic.entries_with_machine += m.rs.rlog.len() as u64;
            } else if m.rs.rlog.len() as u32 == m.log.len && m.log.len > 0 {
                self.rep_traffic.whole_light += 1;
            }
            if let Some(sizes) = self.rep_sizes.as_mut() {
                let own = &self.nodes[from].state().rep.rep[from];
                let mut whole = m.clone();
                whole.rs.rlog = own.rlog.clone();
                let len = |m: &crate::rep::RepMsg| postcard::to_allocvec(m).map_or(0, |v| v.len());
                sizes.push((own.last_exec(), m.with_machine, len(m), len(&whole)));
            }
        }
        if self.loss > 0.0 && self.rng.random_bool(self.loss) {
            return;
        }
        let at = self.now_ms + self.rng.random_range(1..=self.delay_ms_max);
        self.push(at, Event::Deliver { from, to, msg });
    }

    /// Runs the cluster for `ms` of virtual time.
    pub fn run_ms(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while let Some((&(at, id), _)) = self.events.iter().next() {
            if at > end {
                break;
            }
            let e = self.events.remove(&(at, id)).unwrap();
            self.now_ms = at;
            match e {
                Event::Tick(k) => {
                    self.step(k, Input::Tick);
                    let next = at + self.tick_ms;
                    self.push(next, Event::Tick(k));
                }
                Event::Deliver { from, to, msg } => {
                    let from = self.ids[from];
                    self.step(to, Input::Message { from, message: msg });
                }
                Event::Timer {
                    k,
                    timer,
                    generation,
                } => {
                    if self.timers.get(&(k, timer)) == Some(&generation) {
                        self.timers.remove(&(k, timer));
                        self.step(k, Input::Timer(timer));
                    }
                }
            }
        }
        self.now_ms = end;
    }

    pub fn run_ticks(&mut self, ticks: u64) {
        self.run_ms(ticks * self.tick_ms);
    }

    /// A client request sent to every replica (§3). Returns the request ids.
    pub fn submit(&mut self, client: u32, ts: u64, op: Op) -> Vec<RequestId> {
        if let Op::Append(x) | Op::Remove(x) = op {
            self.issued.insert(x);
            self.requests.insert(x, (client, ts));
        }
        let mut ids = Vec::new();
        for k in 0..self.n() {
            self.next_request += 1;
            let id = RequestId(self.next_request);
            ids.push(id);
            let request = BftRequest::Submit {
                client,
                ts,
                op: op.clone(),
            };
            self.step(k, Input::Request { id, request });
        }
        ids
    }

    /// Re-sends every issued append that some correct replica has not executed.
    pub fn resubmit_unexecuted(&mut self) {
        let missing: Vec<(i64, (u32, u64))> = self
            .requests
            .iter()
            .map(|(&x, &c)| (x, c))
            .filter(|(x, _)| self.correct().iter().any(|&k| !self.list(k).contains(x)))
            .collect();
        for (x, (client, ts)) in missing {
            self.submit(client, ts, Op::Append(x));
        }
    }

    /// Runs until `pred` holds (checked every tick) or `ticks` pass.
    pub fn run_until(&mut self, ticks: u64, mut pred: impl FnMut(&Cluster) -> bool) -> bool {
        for _ in 0..ticks {
            if pred(self) {
                return true;
            }
            self.run_ticks(1);
        }
        pred(self)
    }

    pub fn list(&self, k: usize) -> &[i64] {
        &self.nodes[k].state().rep.rep[k].machine.list
    }

    pub fn view(&self, k: usize) -> View {
        self.nodes[k].view()
    }

    /// All correct replicas hold `expected` as their list.
    pub fn all_correct_have(&self, expected: &[i64]) -> bool {
        self.correct().iter().all(|&k| self.list(k) == expected)
    }

    /// Correct replicas agree on a stable view with service allowed.
    pub fn stable_view(&self) -> Option<View> {
        let views: BTreeSet<View> = self.correct().iter().map(|&k| self.view(k)).collect();
        let all_allow = self.correct().iter().all(|&k| {
            let st = self.nodes[k].state();
            st.ve.allow_service(self.nodes[k].params())
        });
        (views.len() == 1 && all_allow)
            .then(|| *views.iter().next().unwrap())
            .filter(|v| *v != View::Tee)
    }

    /// §6.1 invariants 1–3 at correct replicas: pairwise compatible executed
    /// histories, only client-issued values, each at most once.
    pub fn check_safety(&self) -> Result<(), String> {
        let correct = self.correct();
        for &a in &correct {
            let ra = &self.nodes[a].state().rep.rep[a];
            for &b in &correct {
                let rb = &self.nodes[b].state().rep.rep[b];
                if !(compatible(ra, rb) || ra.is_def() || rb.is_def()) {
                    return Err(format!("seed {}: replicas {a} and {b} diverge", self.seed));
                }
                if ra.last_exec() == rb.last_exec() && ra.machine.list != rb.machine.list {
                    return Err(format!(
                        "seed {}: lists of {a} and {b} differ at the same seq",
                        self.seed
                    ));
                }
            }
            let list = &ra.machine.list;
            let distinct: BTreeSet<&i64> = list.iter().collect();
            if distinct.len() != list.len() {
                return Err(format!(
                    "seed {}: replica {a} executed a value twice: {list:?}",
                    self.seed
                ));
            }
            if let Some(x) = list.iter().find(|x| !self.issued.contains(x)) {
                return Err(format!(
                    "seed {}: replica {a} holds {x}, never issued",
                    self.seed
                ));
            }
        }
        Ok(())
    }

    /// Replies of type Executed/AlreadyExecuted for one request id set.
    pub fn replied(&self, ids: &[RequestId]) -> usize {
        self.replies
            .iter()
            .flatten()
            .filter(|(id, r)| {
                ids.contains(id)
                    && matches!(
                        r,
                        BftReply::Executed { .. } | BftReply::AlreadyExecuted { .. }
                    )
            })
            .count()
    }
}

/// The config the scenarios use unless they say otherwise.
pub fn config() -> BftConfig {
    BftConfig {
        clients_max: 8,
        ..BftConfig::default()
    }
}
