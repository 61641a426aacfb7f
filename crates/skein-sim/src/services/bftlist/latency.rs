//! Request latency of bftlist in virtual time: how long a client waits from
//! sending a request to all replicas until f+1 of them report it executed,
//! on the simulator's network (no faults). A measurement, never an
//! assertion on time: tests print it (`tests/bftlist_latency.rs`).
//! Operations invoked in the first [`WARM_UP_MS`] are left out: they wait
//! for the first view to be established, which is not request latency.

use super::{protocol_config, sim_config, simulation_of};
use crate::history::OpResult;
use crate::services::RunOptions;
use crate::SimError;
use skein_bft::BftConfig;
use std::fmt;

/// Operations invoked before this virtual time are not measured.
pub const WARM_UP_MS: u64 = 2_000;

/// Figures of one fault-free run.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySummary {
    pub clients: u32,
    /// Operations that completed ok.
    pub ops_ok: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Measured virtual time (after the warm-up).
    pub secs: f64,
    /// Completed operations per virtual second.
    pub ops_per_sec: f64,
    /// Messages sent by all nodes per completed operation.
    pub messages_per_op: f64,
    /// Mean one-way network latency configured for the run.
    pub link_mean_ms: f64,
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} client(s): {} ops in {:.1} s, latency mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms \
             ({:.1} one-way network delays at p50), {:.0} ops/s, {:.0} messages/op",
            self.clients,
            self.ops_ok,
            self.secs,
            self.mean_ms,
            self.p50_ms,
            self.p99_ms,
            self.p50_ms / self.link_mean_ms,
            self.ops_per_sec,
            self.messages_per_op
        )
    }
}

/// Runs `opts` (its faults are ignored: none) and summarises the latency of
/// the operations that completed.
pub fn measure(opts: &RunOptions) -> Result<LatencySummary, SimError> {
    measure_with(opts, protocol_config(opts.clients))
}

/// [`measure`] with chosen protocol settings.
pub fn measure_with(opts: &RunOptions, protocol: BftConfig) -> Result<LatencySummary, SimError> {
    let mut opts = opts.clone();
    opts.faults = crate::config::FaultSet::none();
    opts.byzantine.clear();
    let cfg = sim_config(&opts)?;
    let link_mean_ms = cfg.link.latency_mean_us as f64 / 1e3;
    let (sim, _) = simulation_of(cfg, protocol)?;
    let outcome = sim.run()?;
    let mut latencies: Vec<u64> = outcome
        .history
        .ops()
        .iter()
        .filter(|op| op.invoke_us >= 1_000 * WARM_UP_MS)
        .filter(|op| matches!(op.result, OpResult::Ok(_)))
        .filter_map(|op| op.complete_us.map(|c| c - op.invoke_us))
        .collect();
    latencies.sort_unstable();
    let n = latencies.len();
    let at = |q: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        latencies[i] as f64 / 1e3
    };
    let mean_ms = if n == 0 {
        f64::NAN
    } else {
        latencies.iter().sum::<u64>() as f64 / n as f64 / 1e3
    };
    let secs = outcome.virtual_us.saturating_sub(1_000 * WARM_UP_MS) as f64 / 1e6;
    Ok(LatencySummary {
        clients: opts.clients,
        ops_ok: n,
        mean_ms,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        secs,
        ops_per_sec: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        messages_per_op: outcome.stats.messages_sent as f64 / n.max(1) as f64,
        link_mean_ms,
    })
}
