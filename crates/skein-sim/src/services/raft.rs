//! The `raft` service in the simulator: the skein-raft key-value store under
//! crash faults. Clients put, get, delete and compare-and-set a few keys and
//! follow `NotLeader` redirects ([`workload`]); after every step Raft's
//! cross-node invariants run (election safety, log matching, leader
//! completeness, state machine safety, committed entries never change —
//! `skein_raft::checks::History`); at the end the history is checked for
//! linearizability against [`RaftKvModel`] (the compare-and-set key-value
//! model, [`crate::lin::CasKvModel`], per key); once faults stop, a write
//! must commit within the liveness bound.
//!
//! Raft tolerates crashes, not lies: `corruptions` and `byzantine` are
//! refused (`--faults all` means every fault raft tolerates).
//!
//! Client 0 (closed-loop) also drives membership changes while the faults
//! run, on by default: it removes a voter, re-adds it as a learner and
//! promotes it, one change at a time ([`membership`]). Changes live in a
//! model partition of their own ([`model`]), so the key-value history is
//! judged as before; the per-step checks add that configurations change one
//! voter at a time ([`checks::config_changes_one_voter_at_a_time`]).

pub mod checks;
pub mod membership;
pub mod model;
pub mod workload;

use super::{check_bug, report, RunOptions, ServiceEntry};
use crate::check::{check_fn, Check, ClusterView};
use crate::config::{FaultKind, FaultSet};
use crate::history::{OpRecord, OpResult};
use crate::report::RunReport;
use crate::sim::Simulation;
use crate::trace::TraceSink;
use crate::SimError;
pub use model::{MemberChange, RaftInput, RaftKvModel, RaftOutput};
use skein_core::Protocol;
use skein_raft::checks::History;
use skein_raft::{Raft, RaftConfig};
use std::cell::Cell;
use std::rc::Rc;
pub use workload::{CasWorkload, KEYS};

pub const ENTRY: ServiceEntry = ServiceEntry {
    name: "raft",
    about: "skein-raft key-value store (put/get/delete/cas) under membership changes; crash faults only",
    default_nodes: 5,
    bugs: &[],
    behaviours: || Vec::new(),
    run,
};

/// The fault kinds raft tolerates.
pub const FAULTS: [FaultKind; 5] = [
    FaultKind::Partitions,
    FaultKind::Crashes,
    FaultKind::Pauses,
    FaultKind::Clocks,
    FaultKind::Network,
];

/// Snapshot every this many applied entries: small, so the sweeps exercise
/// compaction and InstallSnapshot, and so the per-step log checks stay cheap.
pub const SNAPSHOT_LOG_ENTRIES: u64 = 64;

/// The faults of `opts` raft can run under: `all` means all it tolerates;
/// naming a fault it does not tolerate (or a Byzantine node) is an error.
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
        let what = if refused.is_empty() {
            "--byzantine".to_string()
        } else {
            refused.join(",")
        };
        return Err(SimError::Invalid(format!(
            "raft tolerates crashes, not Byzantine nodes or corrupted memory, so it cannot be \
             simulated with {what}; use --faults partitions,crashes,pauses,clocks,network \
             (or `all`, which means exactly those for raft)"
        )));
    }
    Ok(opts.faults.clone())
}

/// Raft's cross-node safety checks after every step, remembering leaders and
/// committed entries across steps and crashes. Also notes the highest commit
/// index when the faults stop, for [`write_commits_after_quiet`].
pub fn raft_safety(commit_at_quiet: Rc<Cell<Option<u64>>>) -> Box<dyn Check<Raft>> {
    let mut history = History::default();
    check_fn(
        "raft safety (election, log matching, leader completeness, state machine)",
        move |view: &ClusterView<'_, Raft>| {
            if view.quiet_at_us().is_some() && commit_at_quiet.get().is_none() {
                commit_at_quiet.set(Some(max_commit(view)));
            }
            let Some(me) = view.stepped() else {
                return Ok(()); // no core changed
            };
            let nodes: Vec<&Raft> = view.nodes().map(|n| n.core).collect();
            let stepped = view
                .nodes()
                .position(|n| n.instance == me.instance)
                .expect("the stepped node is running");
            checks::after_step(&mut history, &nodes, stepped)
        },
    )
}

fn max_commit(view: &ClusterView<'_, Raft>) -> u64 {
    view.nodes()
        .map(|n| n.core.commit_index())
        .max()
        .unwrap_or(0)
}

/// Once faults stop, the cluster commits a new entry (clients keep writing)
/// within the liveness bound.
pub fn write_commits_after_quiet(commit_at_quiet: Rc<Cell<Option<u64>>>) -> Box<dyn Check<Raft>> {
    check_fn(
        "liveness: a write commits after faults stop",
        move |view: &ClusterView<'_, Raft>| {
            let before = commit_at_quiet
                .get()
                .ok_or("the faults never stopped before the deadline")?;
            let now = max_commit(view);
            if now <= before {
                let roles: Vec<String> = view
                    .nodes()
                    .map(|n| format!("{}:{:?}@{}", n.id, n.core.role(), n.core.term()))
                    .collect();
                return Err(format!(
                    "commit index stuck at {now} since the faults stopped; nodes {}",
                    roles.join(" ")
                ));
            }
            Ok(())
        },
    )
}

/// Protocol settings for the simulator: defaults, but frequent snapshots.
pub fn protocol_config() -> RaftConfig {
    RaftConfig {
        snapshot_log_entries: SNAPSHOT_LOG_ENTRIES,
        snapshot_chunk_bytes: 256,
        ..RaftConfig::default()
    }
}

/// Builds the raft simulation for `opts` (tests that want the history use this).
pub fn simulation<'t>(opts: &RunOptions) -> Result<Simulation<'t, Raft, CasWorkload>, SimError> {
    check_bug(opts, ENTRY.bugs)?;
    let mut cfg = opts.base_config();
    cfg.faults = faults(opts)?;
    // Elections take 150–300 ms: faults every 0.1–1 s keep the cluster busy.
    cfg.nemesis.interval_min_ms = 100;
    cfg.nemesis.interval_max_ms = 1_000;
    cfg.clients.think_ms_max = 10;
    cfg.clients.timeout_ms = 1_000;
    cfg.liveness_bound_ms = 2_000;
    // Client 0 drives membership between its KV operations: an extra client
    // would add load, and the run would reach its deadline sooner.
    let workload = if driver_runs(opts) {
        CasWorkload::with_membership_driver(0, opts.nodes)
    } else {
        CasWorkload::default()
    };
    // Raft makes ~1,500 events per virtual second: go quiet at half the run
    // so the liveness deadline falls inside even a short run.
    cfg.nemesis.quiet_after_percent = 50;
    let commit_at_quiet = Rc::new(Cell::new(None));
    let mut sim = Simulation::new(cfg, protocol_config(), workload)?
        .invariant(raft_safety(commit_at_quiet.clone()));
    if opts.clients > 0 {
        sim = sim.liveness(write_commits_after_quiet(commit_at_quiet));
    }
    Ok(sim)
}

/// Whether the membership driver runs: it needs clients, closed-loop ones
/// (so that at most one change of its own is open at a time).
pub fn driver_runs(opts: &RunOptions) -> bool {
    opts.clients > 0 && opts.open_loop_ops_per_sec.is_none()
}

/// Membership changes acknowledged in `history` (their configuration committed).
pub fn membership_changes_acknowledged<'a>(
    ops: impl IntoIterator<Item = &'a OpRecord<RaftInput, RaftOutput>>,
) -> usize {
    ops.into_iter()
        .filter(|op| {
            matches!(op.input, RaftInput::Member(_))
                && op.result == OpResult::Ok(RaftOutput::Member)
        })
        .count()
}

pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let mut sim = simulation(opts)?;
    if let Some(sink) = trace {
        sim = sim.trace(sink);
    }
    debug_assert_eq!(Raft::NAME, ENTRY.name);
    Ok(report(opts, sim.run()?))
}
