//! Bounded seed sweeps for every service (run in CI), the proof that a sweep
//! finds an injected bug and that its printed replay command reproduces the
//! run exactly, and the long sweep (ignored; run it with
//! `cargo test --release -p skein-sim --test sweep -- --ignored --nocapture`).

use skein_sim::services::{self, RunOptions, SweepSummary};
use skein_sim::FaultSet;

/// The fault kinds the register tolerates (it is not Byzantine- or corruption-tolerant).
const CRASH_FAULTS: &str = "partitions,crashes,pauses,clocks,network";

fn options(service: &str, steps: u64, faults: &str, bug: Option<&str>) -> RunOptions {
    let mut o = RunOptions::new(service);
    o.steps = steps;
    o.faults = faults.parse().unwrap();
    o.inject_bug = bug.map(String::from);
    o
}

fn assert_all_pass(summary: &SweepSummary) {
    if let Some(report) = summary.failure_report() {
        panic!("{report}");
    }
}

/// Reads back the flags of a printed replay command, as `skein sim` would.
fn parse_replay(cmd: &str) -> RunOptions {
    let args: Vec<&str> = cmd
        .split_whitespace()
        .skip_while(|a| *a != "sim")
        .skip(1)
        .collect();
    let mut o = RunOptions::new("");
    for pair in args.chunks(2) {
        let value = pair[1];
        match pair[0] {
            "--service" => o.service = value.into(),
            "--nodes" => o.nodes = value.parse().unwrap(),
            "--seed" => o.seed = value.parse().unwrap(),
            "--steps" => o.steps = value.parse().unwrap(),
            "--faults" => o.faults = value.parse().unwrap(),
            "--inject-bug" => o.inject_bug = Some(value.into()),
            "--clients" => o.clients = value.parse().unwrap(),
            "--byzantine" => o.byzantine = value.split(',').map(|s| s.parse().unwrap()).collect(),
            "--open-loop" => o.open_loop_ops_per_sec = Some(value.parse().unwrap()),
            flag => panic!("replay command has unknown flag {flag}"),
        }
    }
    o
}

/// Runs seeds in order until one fails; returns it with its report.
fn first_failure(opts: &RunOptions, seeds: std::ops::Range<u64>) -> Option<skein_sim::RunReport> {
    seeds
        .map(|s| services::run(&opts.with_seed(s), None).unwrap())
        .find(|r| !r.passed())
}

#[test]
fn heartbeat_survives_every_fault_kind_ci_sweep() {
    let opts = options("heartbeat", 15_000, "all", None);
    assert_all_pass(&services::sweep(&opts, 0..24, |_| {}).unwrap());
}

#[test]
fn correct_register_is_linearizable_ci_sweep() {
    let opts = options("register", 15_000, CRASH_FAULTS, None);
    let summary = services::sweep(&opts, 0..24, |r| {
        assert!(
            r.stats.ops_ok > 100,
            "seed {} did almost nothing: {r}",
            r.seed
        );
    })
    .unwrap();
    assert_all_pass(&summary);
}

#[test]
fn injected_skip_quorum_bug_is_found_and_replays_exactly() {
    let opts = options(
        "register",
        15_000,
        "partitions,crashes",
        Some("skip-quorum"),
    );
    let failed = first_failure(&opts, 0..300).expect("a sweep of 300 seeds missed the quorum bug");
    let reason = failed.first_failure().unwrap();
    assert!(reason.starts_with("linearizability"), "{reason}");
    eprintln!(
        "found at seed {}: {reason}\n  {}",
        failed.seed, failed.replay
    );

    let replayed_opts = parse_replay(&failed.replay);
    assert_eq!(replayed_opts, opts.with_seed(failed.seed));
    let replayed = services::run(&replayed_opts, None).unwrap();
    assert_eq!(
        replayed, failed,
        "the replay command did not reproduce the run"
    );

    // The same seeds pass without the bug: the sweep found the bug, not noise.
    let mut fixed = opts.with_seed(failed.seed);
    fixed.inject_bug = None;
    assert!(services::run(&fixed, None).unwrap().passed());
}

#[test]
fn injected_skip_write_back_bug_is_found_within_a_few_hundred_seeds() {
    let opts = options("register", 15_000, CRASH_FAULTS, Some("skip-write-back"));
    let failed =
        first_failure(&opts, 0..300).expect("a sweep of 300 seeds missed the write-back bug");
    assert!(failed
        .first_failure()
        .unwrap()
        .starts_with("linearizability"));
    assert_eq!(
        services::run(&parse_replay(&failed.replay), None).unwrap(),
        failed
    );
}

#[test]
fn unknown_service_and_bug_are_errors_with_a_hint() {
    let err = services::run(&RunOptions::new("paxos"), None).unwrap_err();
    assert!(err.to_string().contains("--list"), "{err}");
    let err =
        services::run(&options("heartbeat", 10, "none", Some("skip-quorum")), None).unwrap_err();
    assert!(err.to_string().contains("no injectable bug"), "{err}");
    assert!("partitions,gremlins".parse::<FaultSet>().is_err());
}

/// The long sweep: 1,000 seeds × 100,000 events per service.
#[test]
#[ignore = "long: about two minutes in release"]
fn long_sweep() {
    for (service, faults) in [("heartbeat", "all"), ("register", CRASH_FAULTS)] {
        let opts = options(service, 100_000, faults, None);
        let summary = services::sweep(&opts, 0..1_000, |_| {}).unwrap();
        eprintln!(
            "{service}: {} seeds, {} failed",
            summary.seeds_run,
            summary.failures.len()
        );
        assert_all_pass(&summary);
    }
}
