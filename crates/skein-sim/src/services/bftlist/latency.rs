//! Request latency of bftlist in virtual time: how long a client waits from
//! sending a request to all replicas until f+1 of them report it executed,
//! on the simulator's network (no faults). A measurement, never an
//! assertion on time: tests print it (`tests/bftlist_latency.rs`).

use super::{sim_config, simulation_with};
use crate::history::OpResult;
use crate::services::RunOptions;
use crate::SimError;
use std::fmt;

/// Figures of one fault-free run.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySummary {
    pub clients: u32,
    /// Operations that completed ok.
    pub ops_ok: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
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
            "{} client(s): {} ops, latency mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms \
             ({:.1} one-way network delays at p50), {:.0} ops/s, {:.0} messages/op",
            self.clients,
            self.ops_ok,
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
    let mut opts = opts.clone();
    opts.faults = crate::config::FaultSet::none();
    opts.byzantine.clear();
    let cfg = sim_config(&opts)?;
    let link_mean_ms = cfg.link.latency_mean_us as f64 / 1e3;
    let (sim, _) = simulation_with(&opts, cfg)?;
    let outcome = sim.run()?;
    let mut latencies: Vec<u64> = outcome
        .history
        .ops()
        .iter()
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
    let secs = outcome.virtual_us as f64 / 1e6;
    Ok(LatencySummary {
        clients: opts.clients,
        ops_ok: n,
        mean_ms,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        ops_per_sec: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        messages_per_op: outcome.stats.messages_sent as f64 / n.max(1) as f64,
        link_mean_ms,
    })
}
