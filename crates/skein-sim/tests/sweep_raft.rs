//! The `raft` service: a bounded seed sweep for CI (issue 3), membership
//! changes during faults (issue 5), the refusal of faults raft does not
//! tolerate, determinism, and the long sweeps (ignored):
//!
//! ```text
//! cargo test --release -p skein-sim --test sweep_raft -- --ignored --nocapture
//! ```

use skein_sim::check::Verdict;
use skein_sim::report::RunReport;
use skein_sim::services::{self, raft, RunOptions, SweepSummary};
use skein_sim::trace::TraceEvent;

/// Every fault raft tolerates (it is not Byzantine- or corruption-tolerant).
const FAULTS: &str = "partitions,crashes,pauses,clocks,network";

fn options(steps: u64, faults: &str) -> RunOptions {
    let mut o = RunOptions::new("raft");
    o.steps = steps;
    o.faults = faults.parse().unwrap();
    o
}

fn assert_all_pass(summary: &SweepSummary) {
    if let Some(report) = summary.failure_report() {
        panic!("{report}");
    }
}

/// CI: 16 seeds of 20,000 events (5–18 virtual seconds each; all 16 took
/// 8.6 s in a debug build on a busy 2-core machine), every tolerated fault on and
/// client 0 changing membership; each run does real work and most reach
/// the liveness deadline (membership changes cost events — snapshots sent
/// to re-added learners —, hence 20,000 rather than 15,000).
#[test]
fn raft_is_safe_linearizable_and_live_ci_sweep() {
    let opts = options(20_000, FAULTS);
    let mut judged = 0;
    let summary = services::sweep(&opts, 0..16, |r| {
        assert!(
            r.stats.ops_ok > 100,
            "seed {} did almost nothing: {r}",
            r.seed
        );
        assert!(
            r.stats.faults_injected() > 3,
            "seed {}: no faults: {r}",
            r.seed
        );
        let live = r
            .checks
            .iter()
            .find(|c| c.name == "liveness: a write commits after faults stop")
            .expect("raft registers its liveness check");
        judged += u32::from(live.verdict == Verdict::Pass);
    })
    .unwrap();
    assert_all_pass(&summary);
    assert!(judged >= 12, "liveness judged on only {judged} of 16 seeds");
}

#[test]
fn raft_refuses_faults_it_does_not_tolerate() {
    for faults in ["corruptions", "byzantine", "crashes,corruptions"] {
        let err = services::run(&options(1_000, faults), None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("raft tolerates crashes") && text.contains("partitions,crashes"),
            "{faults}: {text}"
        );
    }
    let mut o = options(1_000, "none");
    o.byzantine = vec!["2:silent".parse().unwrap()];
    assert!(services::run(&o, None).is_err());
    // `all` means every fault raft tolerates.
    let all = services::run(&options(3_000, "all"), None).unwrap();
    assert!(all.passed(), "{all}");
    assert!(!all.stats.faults.contains_key("corrupt"));
}

#[test]
fn raft_same_seed_same_trace() {
    let mut opts = options(8_000, FAULTS);
    opts.seed = 11;
    let traced = |o: &RunOptions| {
        let mut events = Vec::new();
        let r = services::run(o, Some(Box::new(|e: &TraceEvent| events.push(e.clone())))).unwrap();
        (r.trace_hash, events)
    };
    let (hash_a, trace_a) = traced(&opts);
    let (hash_b, trace_b) = traced(&opts);
    assert_eq!(hash_a, hash_b);
    assert_eq!(trace_a, trace_b);
    assert_eq!(services::run(&opts, None).unwrap().trace_hash, hash_a);
    assert_ne!(
        services::run(&opts.with_seed(12), None).unwrap().trace_hash,
        hash_a,
        "another seed is another run"
    );
}

/// The long sweep: 1,000 seeds of 100,000 events with every tolerated fault.
#[test]
#[ignore]
fn raft_long_sweep() {
    let opts = options(100_000, FAULTS);
    let started = std::time::Instant::now();
    let summary = services::sweep(&opts, 0..1_000, |_| {}).unwrap();
    println!(
        "raft long sweep: {} seeds in {:?}",
        summary.seeds_run,
        started.elapsed()
    );
    assert_all_pass(&summary);
}

/// Runs one seed through the raft simulation itself, to read its history:
/// the report and how many membership changes were acknowledged.
fn run_counting_changes(opts: &RunOptions) -> (RunReport, usize) {
    let outcome = raft::simulation(opts).unwrap().run().unwrap();
    let changes = raft::membership_changes_acknowledged(outcome.history.ops());
    (services::report(opts, outcome), changes)
}

/// Runs `seeds`, printing each seed's acknowledged membership changes;
/// panics with every failing seed and its replay command.
fn membership_sweep(opts: &RunOptions, seeds: std::ops::Range<u64>) -> Vec<usize> {
    let mut failures = Vec::new();
    let mut changes = Vec::new();
    for seed in seeds {
        let (report, acknowledged) = run_counting_changes(&opts.with_seed(seed));
        println!(
            "seed {seed}: {acknowledged} membership changes acknowledged, {} ops ok, {} faults, \
             {:.1} virtual s{}",
            report.stats.ops_ok,
            report.stats.faults_injected(),
            report.virtual_us as f64 / 1e6,
            if report.passed() { "" } else { " FAIL" }
        );
        if let Some(reason) = report.first_failure() {
            failures.push(format!("seed {seed}: {reason}\n  {}", report.replay));
        }
        changes.push(acknowledged);
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    changes
}

/// CI: membership changes (remove a voter, re-add it as a learner, promote
/// it) while every tolerated fault runs; every seed stays safe and
/// linearizable and completes several changes.
#[test]
fn raft_membership_changes_during_faults_ci_sweep() {
    let changes = membership_sweep(&options(15_000, FAULTS), 0..6);
    for (seed, &count) in changes.iter().enumerate() {
        assert!(count >= 3, "seed {seed}: only {count} membership changes");
    }
}

/// The long membership sweep: 200 seeds of 100,000 events, printing each
/// seed's acknowledged membership changes.
///
/// ```text
/// cargo test --release -p skein-sim --test sweep_raft raft_membership_long_sweep -- --ignored --nocapture
/// ```
#[test]
#[ignore]
fn raft_membership_long_sweep() {
    let started = std::time::Instant::now();
    let changes = membership_sweep(&options(100_000, FAULTS), 0..200);
    let total: usize = changes.iter().sum();
    println!(
        "raft membership long sweep: {} seeds in {:?}; changes acknowledged per seed: min {}, mean {:.1}, max {}",
        changes.len(),
        started.elapsed(),
        changes.iter().min().unwrap(),
        total as f64 / changes.len() as f64,
        changes.iter().max().unwrap()
    );
    assert!(
        changes.iter().all(|&c| c > 0),
        "a seed changed no membership"
    );
}
