//! The `gossip` service in the simulator: the skein-gossip overlay with
//! nodes joining through node 1, clients broadcasting through random nodes,
//! and crash, pause, partition, clock and network faults.
//!
//! Invariants after every step: every buffer within its configured bound,
//! and each node delivers each message to the application at most once,
//! across restarts too (a delivery is shown once its record is durable; a
//! restarted node restores the delivered ids).
//! Liveness once faults stop: every running node sees every other running
//! node alive, and every broadcast made after the overlay settled reached
//! every running node.

pub mod baseline;
pub mod checks;
pub mod scale;

use super::{check_bug, report, RunOptions, ServiceEntry};
use crate::config::{FaultKind, FaultSet};
use crate::lin::EchoModel;
use crate::report::RunReport;
use crate::sim::Simulation;
use crate::trace::TraceSink;
use crate::workload::{Outcome, ReplyFrom, Workload};
use crate::SimError;
use checks::Tracker;
use rand::RngCore;
use skein_core::Protocol;
use skein_gossip::{Gossip, GossipConfig, GossipReply, GossipRequest};
use std::cell::RefCell;
use std::rc::Rc;

pub const ENTRY: ServiceEntry = ServiceEntry {
    name: "gossip",
    about: "skein-gossip overlay: signed SWIM membership, Plumtree broadcast; crash faults",
    default_nodes: 8,
    bugs: &[],
    behaviours: Vec::new,
    run,
};

/// The faults the overlay is simulated under (`all` means these).
pub const FAULTS: [FaultKind; 5] = [
    FaultKind::Partitions,
    FaultKind::Crashes,
    FaultKind::Pauses,
    FaultKind::Clocks,
    FaultKind::Network,
];

/// Fast timings: a probe every 200 ms, so a run of ~20 virtual seconds sees
/// many suspicions, deaths, refutations and expiries.
pub fn protocol_config() -> GossipConfig {
    GossipConfig {
        boot: vec![1],
        network_sync_interval: 2,
        network_sync_jitter: 1,
        probe_interval_ms: 200,
        probe_timeout_ms: 80,
        suspicion_timeout_ms: 1_000,
        dead_expiry_ms: 4_000,
        graft_timeout_ms: 100,
        tick_ms: 20,
        seen_max: 512,
        messages_max: 128,
        // Well under seen_max deliveries per window at the workload's rate.
        anti_entropy_window_secs: 10,
        ..GossipConfig::default()
    }
}

/// Clients broadcast numbered texts through random nodes.
#[derive(Default)]
pub struct BroadcastWorkload {
    next: u64,
}

impl Workload<Gossip> for BroadcastWorkload {
    type Model = EchoModel;

    fn model(&self) -> EchoModel {
        EchoModel
    }

    fn next_op(&mut self, _: &mut dyn RngCore, client: u32) -> Option<(GossipRequest, u64)> {
        self.next += 1;
        let payload = format!("client {client} message {}", self.next);
        Some((GossipRequest::Broadcast { payload }, self.next))
    }

    fn outcome(&mut self, _: ReplyFrom, input: &u64, reply: &GossipReply) -> Outcome<u64> {
        match reply {
            GossipReply::Broadcasted { .. } => Outcome::Ok(*input),
            _ => Outcome::Fail,
        }
    }

    /// Broadcasts are not a shared object; delivery is judged by the checks.
    fn check_linearizability(&self) -> bool {
        false
    }
}

pub fn faults(opts: &RunOptions) -> Result<FaultSet, SimError> {
    if opts.faults == FaultSet::all() {
        return Ok(FaultSet::of(&FAULTS));
    }
    let refused: Vec<&str> = opts
        .faults
        .0
        .iter()
        .filter(|k| !FAULTS.contains(k))
        .map(|k| k.name())
        .collect();
    if !refused.is_empty() || !opts.byzantine.is_empty() {
        return Err(SimError::Invalid(format!(
            "the gossip simulation covers crash-type faults; it cannot run with {} \
             (signature checks against forged messages are unit-tested in skein-gossip); \
             use --faults partitions,crashes,pauses,clocks,network or all",
            if refused.is_empty() {
                "--byzantine".into()
            } else {
                refused.join(",")
            }
        )));
    }
    Ok(opts.faults.clone())
}

pub fn simulation<'t>(
    opts: &RunOptions,
) -> Result<Simulation<'t, Gossip, BroadcastWorkload>, SimError> {
    check_bug(opts, ENTRY.bugs)?;
    let mut cfg = opts.base_config();
    cfg.faults = faults(opts)?;
    cfg.clients.think_ms_max = 400;
    cfg.clients.timeout_ms = 1_000;
    cfg.liveness_bound_ms = 8_000;
    cfg.nemesis.quiet_after_percent = 40;
    let tracker = Rc::new(RefCell::new(Tracker::default()));
    let config = protocol_config();
    Ok(
        Simulation::new(cfg, config.clone(), BroadcastWorkload::default())?
            .invariant(checks::bounded_memory(config))
            .invariant(checks::exactly_once(tracker.clone()))
            .liveness(checks::membership_converges())
            .liveness(checks::broadcasts_reach_everyone(tracker, opts.clients > 0)),
    )
}

pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let mut sim = simulation(opts)?;
    if let Some(sink) = trace {
        sim = sim.trace(sink);
    }
    debug_assert_eq!(Gossip::NAME, ENTRY.name);
    Ok(report(opts, sim.run()?))
}
