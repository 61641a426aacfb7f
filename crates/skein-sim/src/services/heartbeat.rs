//! The `heartbeat` service in the simulator: clients send `Echo` requests
//! (checked against [`EchoModel`]); invariants check that incarnations never
//! go back and that gossip memory stays bounded after every step; liveness
//! checks that, once faults stop, every honest node sees every honest peer up.

use super::{check_bug, report, RunOptions, ServiceEntry, DEFAULT_NODES};
use crate::byzantine::ByzantineRegistry;
use crate::check::{check_fn, Check, ClusterView};
use crate::lin::EchoModel;
use crate::report::RunReport;
use crate::sim::Simulation;
use crate::trace::TraceSink;
use crate::workload::{Outcome, ReplyFrom, Workload};
use crate::SimError;
use rand::RngCore;
use skein_core::heartbeat::{
    Heartbeat, HeartbeatConfig, HeartbeatReply, HeartbeatRequest, GOSSIP_REMEMBERED_MAX,
};
use skein_core::{NodeId, Protocol};
use std::collections::BTreeMap;

pub const ENTRY: ServiceEntry = ServiceEntry {
    name: "heartbeat",
    about: "failure detector by periodic beats; clients echo",
    default_nodes: DEFAULT_NODES,
    bugs: &[],
    behaviours: || ByzantineRegistry::<Heartbeat>::generic().names(),
    run,
};

/// Clients send numbered echoes and expect the same number back.
#[derive(Default)]
pub struct EchoWorkload {
    next: u64,
}

impl Workload<Heartbeat> for EchoWorkload {
    type Model = EchoModel;

    fn model(&self) -> EchoModel {
        EchoModel
    }

    fn next_op(&mut self, _: &mut dyn RngCore, _: u32) -> Option<(HeartbeatRequest, u64)> {
        self.next += 1;
        Some((
            HeartbeatRequest::Echo {
                text: self.next.to_string(),
            },
            self.next,
        ))
    }

    fn outcome(&mut self, _: ReplyFrom, _: &u64, reply: &HeartbeatReply) -> Outcome<u64> {
        match reply {
            // A garbled echo reads as a value no one sent, which the model rejects.
            HeartbeatReply::Echo { text, .. } => Outcome::Ok(text.parse().unwrap_or(u64::MAX)),
            _ => Outcome::Fail,
        }
    }
}

/// Incarnations only grow: each boot persists the next one before using it.
pub fn incarnation_never_decreases() -> Box<dyn Check<Heartbeat>> {
    let mut seen: BTreeMap<usize, u64> = BTreeMap::new();
    check_fn(
        "incarnation never decreases",
        move |view: &ClusterView<'_, Heartbeat>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let now = node.core.incarnation();
            let before = seen.insert(node.instance, now).unwrap_or(0);
            if now < before {
                return Err(format!(
                    "node {} went from incarnation {before} to {now}",
                    node.id
                ));
            }
            Ok(())
        },
    )
}

/// After any step, even one right after a corruption, gossip memory is bounded.
pub fn gossip_stays_bounded() -> Box<dyn Check<Heartbeat>> {
    check_fn(
        "gossip memory bounded after every step",
        |view: &ClusterView<'_, Heartbeat>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let remembered = node.core.status().gossip.len();
            if remembered > GOSSIP_REMEMBERED_MAX {
                return Err(format!(
                    "node {} remembers {remembered} gossip texts",
                    node.id
                ));
            }
            Ok(())
        },
    )
}

/// Once faults stop, each honest node sees every other honest node up.
pub fn honest_peers_seen_up() -> Box<dyn Check<Heartbeat>> {
    check_fn(
        "liveness: honest peers seen up",
        |view: &ClusterView<'_, Heartbeat>| {
            let honest: Vec<NodeId> = view.honest().map(|n| n.id).collect();
            for node in view.honest() {
                let up = node.core.up_peers();
                let missing: Vec<NodeId> = honest
                    .iter()
                    .copied()
                    .filter(|p| *p != node.id && !up.contains(p))
                    .collect();
                if !missing.is_empty() {
                    return Err(format!("node {} sees {missing:?} down", node.id));
                }
            }
            Ok(())
        },
    )
}

/// Builds the heartbeat simulation for `opts` (for tests and benchmarks that
/// want the outcome with its history rather than a report).
pub fn simulation<'t>(
    opts: &RunOptions,
) -> Result<Simulation<'t, Heartbeat, EchoWorkload>, SimError> {
    check_bug(opts, ENTRY.bugs)?;
    let cfg = opts.base_config();
    Ok(
        Simulation::new(cfg, HeartbeatConfig::default(), EchoWorkload::default())?
            .invariant(incarnation_never_decreases())
            .invariant(gossip_stays_bounded())
            .liveness(honest_peers_seen_up()),
    )
}

pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let mut sim = simulation(opts)?;
    if let Some(sink) = trace {
        sim = sim.trace(sink);
    }
    debug_assert_eq!(Heartbeat::NAME, ENTRY.name);
    Ok(report(opts, sim.run()?))
}
