//! Dynamic peers in the simulator: each instance's `Broadcast` goes to its
//! current peer set, which `AddPeer` / `RemovePeer` change (routing is by
//! id; the address only lands in the trace).
//!
//! Three nodes. Node 1 removes every static peer at start, so it has none;
//! node 2 introduces itself to node 1, which adds it; node 3 stays silent.
//! Node 1 numbers its broadcasts and, after a while, removes node 2 again.
//! Checked after every event: node 3 never hears node 1, and node 2 never
//! hears a broadcast node 1 made after removing it.

use serde::{Deserialize, Serialize};
use skein_core::{Boot, Context, Input, NodeId, PeerAddress, Protocol};
use skein_sim::check::{check_fn, ClusterView};
use skein_sim::lin::EchoModel;
use skein_sim::trace::TraceEvent;
use skein_sim::workload::{Outcome, ReplyFrom, Workload};
use skein_sim::{ClientConfig, SimConfig, Simulation};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

const INTRODUCER: NodeId = NodeId(1);
/// Node 1 removes node 2 after this many broadcasts while it was a peer.
const BEATS_BEFORE_REMOVAL: u64 = 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Msg {
    Introduce { address: PeerAddress },
    Beat { seq: u64 },
}

#[derive(Debug)]
struct Intro {
    id: NodeId,
    address: PeerAddress,
    /// Node 1: sequence number of its next broadcast.
    next_seq: u64,
    /// Node 1: the seq of its first broadcast with node 2 as a peer.
    added_at_seq: Option<u64>,
    /// Node 1: the seq of its last broadcast with node 2 as a peer.
    removed_after_seq: Option<u64>,
    /// Highest beat seq heard from node 1.
    heard_from_1: Option<u64>,
}

impl Protocol for Intro {
    type Message = Msg;
    type Request = ();
    type Reply = ();
    type Config = ();
    type Status = ();
    const NAME: &'static str = "intro";
    const PROTOCOL_ID: u16 = 0x7e57;
    const VERSION: u16 = 1;

    fn boot(boot: Boot<'_, ()>) -> Self {
        Self {
            id: boot.id,
            address: boot.address.clone(),
            next_seq: 0,
            added_at_seq: None,
            removed_after_seq: None,
            heard_from_1: None,
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        match input {
            Input::Start if self.id == INTRODUCER => {
                // Restarts reset the driver's peer set: start from none again.
                for peer in [2, 3].map(NodeId) {
                    ctx.remove_peer(peer);
                }
                self.added_at_seq = None;
            }
            Input::Tick if self.id == NodeId(2) => {
                let address = self.address.clone();
                ctx.send(INTRODUCER, Msg::Introduce { address });
            }
            Input::Tick if self.id == INTRODUCER => {
                let seq = self.next_seq;
                self.next_seq += 1;
                ctx.broadcast(Msg::Beat { seq });
                let removal_due = self
                    .added_at_seq
                    .is_some_and(|added| seq >= added + BEATS_BEFORE_REMOVAL);
                if removal_due && self.removed_after_seq.is_none() {
                    ctx.remove_peer(NodeId(2));
                    self.removed_after_seq = Some(seq);
                }
            }
            Input::Message {
                from,
                message: Msg::Introduce { address },
            } if self.removed_after_seq.is_none() => {
                ctx.add_peer(from, address);
                self.added_at_seq.get_or_insert(self.next_seq);
            }
            Input::Message {
                from: INTRODUCER,
                message: Msg::Beat { seq },
            } => {
                self.heard_from_1 = self.heard_from_1.max(Some(seq));
            }
            _ => {}
        }
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(20)
    }

    fn status(&self) {}
}

/// No clients: the nodes talk among themselves.
struct Quiet;

impl Workload<Intro> for Quiet {
    type Model = EchoModel;

    fn model(&self) -> EchoModel {
        EchoModel
    }

    fn next_op(&mut self, _: &mut dyn rand::RngCore, _: u32) -> Option<((), u64)> {
        None
    }

    fn outcome(&mut self, _: ReplyFrom, _: &u64, _: &()) -> Outcome<u64> {
        Outcome::Fail
    }

    fn check_linearizability(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    node_2_heard: Option<u64>,
    removed_after: Option<u64>,
}

fn run(seed: u64) -> (Seen, u64, Vec<TraceEvent>) {
    let mut cfg = SimConfig::new(seed, 3);
    cfg.steps_max = 20_000;
    cfg.clients = ClientConfig {
        clients: 0,
        ..ClientConfig::default()
    };
    let seen = Rc::new(RefCell::new(Seen::default()));
    let mut trace = Vec::new();
    let outcome = {
        let seen = seen.clone();
        let trace = &mut trace;
        Simulation::new(cfg, (), Quiet)
            .unwrap()
            .invariant(check_fn(
                "broadcasts reach only current peers",
                move |view: &ClusterView<'_, Intro>| {
                    let core = |id: u16| view.nodes().find(|n| n.id == NodeId(id)).unwrap().core;
                    let (one, two, three) = (core(1), core(2), core(3));
                    if let Some(seq) = three.heard_from_1 {
                        return Err(format!("node 3 heard node 1's beat {seq}"));
                    }
                    if let (Some(heard), Some(last)) = (two.heard_from_1, one.removed_after_seq) {
                        if heard > last {
                            return Err(format!(
                                "node 2 heard beat {heard} after removal at {last}"
                            ));
                        }
                    }
                    *seen.borrow_mut() = Seen {
                        node_2_heard: two.heard_from_1,
                        removed_after: one.removed_after_seq,
                    };
                    Ok(())
                },
            ))
            .trace(Box::new(move |e: &TraceEvent| trace.push(e.clone())))
            .run()
            .unwrap()
    };
    assert!(outcome.passed(), "seed {seed}: {:?}", outcome.checks);
    let seen = *seen.borrow();
    (seen, outcome.trace_hash, trace)
}

#[test]
fn broadcasts_reach_only_current_peers() {
    for seed in 1..=5 {
        let (seen, _, trace) = run(seed);
        let heard = seen.node_2_heard.expect("node 2 heard node 1 once added");
        let removed = seen.removed_after.expect("node 1 removed node 2");
        assert!(heard <= removed, "seed {seed}");
        let kinds = |kind: &str| trace.iter().filter(|e| e.kind == kind).count();
        assert!(kinds("add-peer") >= 1, "seed {seed}: add-peer is traced");
        assert_eq!(kinds("remove-peer"), 3, "seed {seed}: 2 at start, 1 later");
        let added = trace.iter().find(|e| e.kind == "add-peer").unwrap();
        assert_eq!((added.node, added.peer), (Some(1), Some(2)));
        assert!(added.detail.contains("sim:2"), "{}", added.detail);
    }
}

#[test]
fn peer_changes_replay_deterministically() {
    let (_, hash_a, trace_a) = run(9);
    let (_, hash_b, trace_b) = run(9);
    assert_eq!(hash_a, hash_b);
    assert_eq!(trace_a, trace_b);
}
