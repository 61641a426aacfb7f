//! Request latency of bftlist in virtual time: how long a client waits from
//! sending a request to all replicas until f+1 of them report it executed,
//! on the simulator's network (no faults). A measurement, never an
//! assertion on time: tests print it (`tests/bftlist_latency.rs`).
//! Operations invoked in the first [`WARM_UP_MS`] are left out: they wait
//! for the first view to be established, which is not request latency.

use super::{protocol_config, sim_config, simulation_of};
use crate::history::OpResult;
use crate::services::RunOptions;
use crate::{KindBytes, SimError};
use skein_bft::BftConfig;
use std::fmt;

/// Operations invoked before this virtual time are not measured.
pub const WARM_UP_MS: u64 = 2_000;

/// Requests per block of [`LatencySummary::mean_ms_by_block`].
pub const BLOCK: usize = 100;

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
    /// Replica structure messages (`rep.structure*`) sent, per destination.
    pub rep_messages: u64,
    /// Their mean and largest encoded size (postcard, no framing).
    pub rep_bytes_mean: f64,
    pub rep_bytes_max: u64,
    /// Mean latency of the requests numbered `i·BLOCK .. (i+1)·BLOCK` in
    /// the order clients issued them (NaN for a block wholly in the
    /// warm-up): flat when a request's cost does not grow with the list.
    pub mean_ms_by_block: Vec<f64>,
}

impl LatencySummary {
    /// The first `blocks` of `mean_ms_by_block` as "0–99: 86, 100–199: …" (ms).
    pub fn blocks_line(&self, blocks: usize) -> String {
        self.mean_ms_by_block
            .iter()
            .take(blocks)
            .enumerate()
            .map(|(i, ms)| format!("{}–{}: {ms:.0}", i * BLOCK, (i + 1) * BLOCK - 1))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} client(s): {} ops in {:.1} s, latency mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms \
             ({:.1} one-way network delays at p50), {:.0} ops/s, {:.0} messages/op, \
             Rep message {:.0} B mean / {} B max",
            self.clients,
            self.ops_ok,
            self.secs,
            self.mean_ms,
            self.p50_ms,
            self.p99_ms,
            self.p50_ms / self.link_mean_ms,
            self.ops_per_sec,
            self.messages_per_op,
            self.rep_bytes_mean,
            self.rep_bytes_max
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
    let mut cfg = sim_config(&opts)?;
    cfg.measure_message_bytes = true;
    let link_mean_ms = cfg.link.latency_mean_us as f64 / 1e3;
    let (sim, _) = simulation_of(cfg, protocol)?;
    let outcome = sim.run()?;
    let mut issued: Vec<(u64, Option<u64>)> = outcome
        .history
        .ops()
        .iter()
        .map(|op| {
            let ok = matches!(op.result, OpResult::Ok(_)) && op.invoke_us >= 1_000 * WARM_UP_MS;
            (op.invoke_us, op.complete_us.filter(|_| ok))
        })
        .collect();
    issued.sort_by_key(|&(invoke, _)| invoke);
    let mean_ms_by_block = issued
        .chunks(BLOCK)
        .filter(|block| block.len() == BLOCK)
        .map(|block| {
            let done: Vec<u64> = block
                .iter()
                .filter_map(|&(invoke, complete)| complete.map(|c| c - invoke))
                .collect();
            done.iter().sum::<u64>() as f64 / done.len() as f64 / 1e3
        })
        .collect();
    let rep = outcome
        .stats
        .message_bytes
        .iter()
        .filter(|(kind, _)| kind.starts_with("rep.structure"))
        .fold(KindBytes::default(), |a, (_, k)| KindBytes {
            messages: a.messages + k.messages,
            bytes: a.bytes + k.bytes,
            max: a.max.max(k.max),
        });
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
        rep_messages: rep.messages,
        rep_bytes_mean: rep.bytes as f64 / rep.messages.max(1) as f64,
        rep_bytes_max: rep.max,
        mean_ms_by_block,
    })
}
