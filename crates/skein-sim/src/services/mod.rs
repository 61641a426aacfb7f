//! The services `skein sim --service NAME` can run. Each binds a protocol
//! core to a workload, its invariants and liveness checks, and its own
//! Byzantine behaviours. To add one (raft, bftlist, dht, gossip as they
//! land): write a module with a `run` function like [`heartbeat::run`] and
//! add an entry to [`SERVICES`] — nothing else changes.

pub mod bftlist;
pub mod dht;
pub mod gossip;
pub mod heartbeat;
mod options;
pub mod raft;
pub mod register;

pub use options::{RunOptions, DEFAULT_CLIENTS, DEFAULT_NODES, DEFAULT_STEPS};

use crate::check::{CheckResult, Verdict};
use crate::report::{RunReport, SimStats};
use crate::sim::SimOutcome;
use crate::trace::TraceSink;
use crate::SimError;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs one seed of a service.
pub type RunFn = for<'t> fn(&RunOptions, Option<TraceSink<'t>>) -> Result<RunReport, SimError>;

/// A service the simulator can run.
pub struct ServiceEntry {
    pub name: &'static str,
    pub about: &'static str,
    /// Cluster size when `--nodes` is not given.
    pub default_nodes: u16,
    /// Names accepted by `--inject-bug`.
    pub bugs: &'static [&'static str],
    /// Names accepted by `--byzantine NODE:NAME`.
    pub behaviours: fn() -> Vec<String>,
    pub run: RunFn,
}

pub static SERVICES: &[ServiceEntry] = &[
    heartbeat::ENTRY,
    register::ENTRY,
    raft::ENTRY,
    bftlist::ENTRY,
    dht::ENTRY,
    gossip::ENTRY,
];

pub fn find(name: &str) -> Result<&'static ServiceEntry, SimError> {
    SERVICES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| SimError::UnknownService(name.into()))
}

/// Runs one seed. A panic inside a protocol core (a failed `assert!`) is
/// caught and reported as a failed check, so a sweep can go on.
pub fn run(opts: &RunOptions, trace: Option<TraceSink<'_>>) -> Result<RunReport, SimError> {
    let entry = find(&opts.service)?;
    match catch_unwind(AssertUnwindSafe(|| (entry.run)(opts, trace))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-text panic".into());
            Ok(RunReport {
                service: opts.service.clone(),
                seed: opts.seed,
                nodes: opts.nodes,
                virtual_us: 0,
                stats: SimStats::default(),
                checks: vec![CheckResult::new("no-panic", Verdict::Fail(message))],
                trace_hash: 0,
                replay: opts.replay_command(),
            })
        }
    }
}

/// Seeds that failed in a sweep, each with its reason and replay command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepSummary {
    pub seeds_run: u64,
    pub failures: Vec<SweepFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepFailure {
    pub seed: u64,
    pub reason: String,
    pub replay: String,
}

impl std::fmt::Display for SweepFailure {
    /// `seed N: reason` and, indented below it, the command that replays it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {}: {}\n  {}", self.seed, self.reason, self.replay)
    }
}

impl SweepSummary {
    /// Every failing seed with its replay command; `None` when all passed.
    pub fn failure_report(&self) -> Option<String> {
        if self.failures.is_empty() {
            return None;
        }
        let lines: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
        Some(format!(
            "{} of {} seeds failed:\n{}",
            lines.len(),
            self.seeds_run,
            lines.join("\n")
        ))
    }
}

/// Runs every seed of `seeds`, calling `each` after each one.
pub fn sweep(
    opts: &RunOptions,
    seeds: Range<u64>,
    mut each: impl FnMut(&RunReport),
) -> Result<SweepSummary, SimError> {
    let mut summary = SweepSummary::default();
    for seed in seeds {
        let report = run(&opts.with_seed(seed), None)?;
        summary.seeds_run += 1;
        if let Some(reason) = report.first_failure() {
            summary.failures.push(SweepFailure {
                seed,
                reason,
                replay: report.replay.clone(),
            });
        }
        each(&report);
    }
    Ok(summary)
}

/// Turns a generic outcome into the report every service returns.
pub fn report<I, O>(opts: &RunOptions, outcome: SimOutcome<I, O>) -> RunReport {
    RunReport {
        service: opts.service.clone(),
        seed: opts.seed,
        nodes: opts.nodes,
        virtual_us: outcome.virtual_us,
        stats: outcome.stats,
        checks: outcome.checks,
        trace_hash: outcome.trace_hash,
        replay: opts.replay_command(),
    }
}

/// Rejects `--inject-bug` for services that have none of that name.
pub(crate) fn check_bug(opts: &RunOptions, known: &[&str]) -> Result<(), SimError> {
    match &opts.inject_bug {
        Some(bug) if !known.contains(&bug.as_str()) => Err(SimError::UnknownBug {
            service: opts.service.clone(),
            bug: bug.clone(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        }),
        _ => Ok(()),
    }
}
