//! The `gossip` service: a bounded seed sweep for CI, the refusal of faults
//! it is not simulated under, and the long sweep (ignored):
//!
//! ```text
//! cargo test --release -p skein-sim --test sweep_gossip -- --ignored --nocapture
//! ```

use skein_sim::check::Verdict;
use skein_sim::services::{self, RunOptions, SweepSummary};

const FAULTS: &str = "partitions,crashes,pauses,clocks,network";

fn options(steps: u64, faults: &str) -> RunOptions {
    let mut o = RunOptions::new("gossip");
    o.steps = steps;
    o.faults = faults.parse().unwrap();
    o
}

fn assert_all_pass(summary: &SweepSummary) {
    if let Some(report) = summary.failure_report() {
        panic!("{report}");
    }
}

fn judged(r: &skein_sim::report::RunReport, name: &str) -> bool {
    r.checks
        .iter()
        .find(|c| c.name.starts_with(name))
        .is_some_and(|c| c.verdict == Verdict::Pass)
}

/// CI: 4 seeds of 40,000 events (~45 virtual seconds of an 8-node overlay
/// under every tolerated fault, quiet after 40 %); both liveness checks
/// must be judged.
#[test]
fn gossip_delivers_once_stays_bounded_and_converges_ci_sweep() {
    let opts = options(40_000, FAULTS);
    let mut live = 0;
    let summary = services::sweep(&opts, 0..4, |r| {
        assert!(
            r.stats.faults_injected() > 3,
            "seed {}: no faults: {r}",
            r.seed
        );
        live += u32::from(
            judged(r, "liveness: every running node") && judged(r, "liveness: broadcasts"),
        );
    })
    .unwrap();
    assert_all_pass(&summary);
    assert!(live >= 3, "liveness judged on only {live} of 4 seeds");
}

#[test]
fn gossip_refuses_faults_it_is_not_simulated_under() {
    for faults in ["corruptions", "byzantine"] {
        let err = services::run(&options(1_000, faults), None).unwrap_err();
        assert!(err.to_string().contains("gossip"), "{err}");
    }
}

/// The long sweep: 200 seeds of 150,000 events (`SKEIN_GOSSIP_SWEEP_SEEDS=82..83`
/// for a range, e.g. to replay one seed with the checks' full messages).
#[test]
#[ignore]
fn gossip_long_sweep() {
    let opts = options(150_000, FAULTS);
    let seeds = match std::env::var("SKEIN_GOSSIP_SWEEP_SEEDS") {
        Ok(range) => {
            let (from, to) = range.split_once("..").expect("a range like 82..83");
            from.parse().unwrap()..to.parse().unwrap()
        }
        Err(_) => 0..200,
    };
    let summary = services::sweep(&opts, seeds, |r| println!("{r}")).unwrap();
    assert_all_pass(&summary);
}
