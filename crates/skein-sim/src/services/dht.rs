//! The `dht` service in the simulator: the skein-dht Chord ring. Node 1
//! starts the ring; the others boot one after another and join through it
//! (`SimConfig::boot_at_ms`). Clients put, get, delete and look up keys
//! ([`workload`]). After every step stored versions must never go back;
//! `liveness_bound_ms` after the faults stop the ring must be whole, every
//! acknowledged write on r live nodes and every lookup agree ([`checks`]).
//!
//! A crashed node restarts from what its simulated disk kept (torn and
//! lost tail writes included): both stores and its routing state.
//! [`scale`] is a lean driver for rings of up to 10,000 nodes ([`hops`]).
//!
//! Chord tolerates crashes and churn, not partitions (two rings formed on
//! the two sides need not merge) or lies: `partitions`, `corruptions` and
//! `byzantine` are refused (`--faults all` means the ones it tolerates).

pub mod checks;
pub mod hops;
pub mod scale;
pub mod workload;

use super::{check_bug, report, RunOptions, ServiceEntry};
use crate::config::{FaultKind, FaultSet};
use crate::report::RunReport;
use crate::sim::Simulation;
use crate::trace::TraceSink;
use crate::SimError;
use skein_core::{NodeId, PeerAddress, Protocol};
use skein_dht::{Dht, DhtConfig};
use std::cell::RefCell;
use std::rc::Rc;
pub use workload::{DhtWorkload, Ledger};

pub const ENTRY: ServiceEntry = ServiceEntry {
    name: "dht",
    about: "skein-dht Chord ring (put/get/delete/lookup, r=3 replicas); crashes and churn",
    default_nodes: 16,
    bugs: &[],
    behaviours: Vec::new,
    run,
};

/// The fault kinds the dht tolerates.
pub const FAULTS: [FaultKind; 4] = [
    FaultKind::Crashes,
    FaultKind::Pauses,
    FaultKind::Clocks,
    FaultKind::Network,
];

/// The whole ring has booted within about this long.
pub const JOIN_SPREAD_MS: u64 = 3_000;
/// Time the ring gets after the faults stop before it is judged: 6 s, plus
/// 24 ms per node, because stabilize walks a misplaced successor home one
/// node per round and a large ring booted at once has long walks (1,000
/// nodes: 30 s; seed 0 needed between 6 and 30 s).
pub fn stabilize_ms(nodes: u16) -> u64 {
    6_000 + 24 * u64::from(nodes)
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
            "the dht tolerates crashes, pauses, clock drift and lossy networks, not {}; \
             use --faults crashes,pauses,clocks,network (or `all`, which means exactly those)",
            if refused.is_empty() {
                "Byzantine nodes".to_string()
            } else {
                refused.join(",")
            }
        )));
    }
    Ok(opts.faults.clone())
}

/// Every node joins through node 1 (node 1 itself starts the ring).
pub fn protocol_config() -> DhtConfig {
    DhtConfig {
        join: Some(PeerAddress("sim:1".into())),
        ..DhtConfig::default()
    }
}

/// When node `k` boots: node 1 at once, the rest spread over `JOIN_SPREAD_MS`.
pub fn boot_times_ms(nodes: u16) -> Vec<(NodeId, u64)> {
    let gap_ms = (JOIN_SPREAD_MS / u64::from(nodes.max(1))).max(5);
    (2..=nodes)
        .map(|k| (NodeId(k), u64::from(k - 1) * gap_ms))
        .collect()
}

/// Builds the dht simulation; the ledger fills as it runs.
pub fn simulation<'t>(
    opts: &RunOptions,
    ledger: Rc<RefCell<Ledger>>,
) -> Result<Simulation<'t, Dht, DhtWorkload>, SimError> {
    check_bug(opts, ENTRY.bugs)?;
    let mut cfg = opts.base_config();
    cfg.faults = faults(opts)?;
    cfg.boot_at_ms = boot_times_ms(opts.nodes);
    // Faults a few seconds apart: re-replication (a replicate round every
    // 0.5 s) repairs one crash before the next can hit the same keys.
    cfg.nemesis.interval_min_ms = 3_000;
    cfg.nemesis.interval_max_ms = 6_000;
    cfg.clients.think_ms_max = 20;
    cfg.clients.timeout_ms = 4_000;
    cfg.liveness_bound_ms = stabilize_ms(opts.nodes);
    cfg.nemesis.quiet_after_percent = 50;
    let sim = Simulation::new(cfg, protocol_config(), DhtWorkload::new(ledger.clone()))?
        .invariant(checks::versions_never_go_back())
        .liveness(checks::ring_is_whole(ledger));
    Ok(sim)
}

pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let mut sim = simulation(opts, ledger)?;
    if let Some(sink) = trace {
        sim = sim.trace(sink);
    }
    debug_assert_eq!(Dht::NAME, ENTRY.name);
    Ok(report(opts, sim.run()?))
}
