//! The `dht` service: a bounded seed sweep under every fault the ring
//! tolerates, lookup hops on rings of 100 and 1,000 nodes, and churn runs.
//! The long runs are ignored in CI:
//!
//! ```text
//! cargo test --release -p skein-sim --test sweep_dht -- --ignored --nocapture
//! ```

use skein_sim::check::Verdict;
use skein_sim::services::dht::{simulation, Ledger};
use skein_sim::services::{self, RunOptions, SweepSummary};
use std::cell::RefCell;
use std::rc::Rc;

const FAULTS: &str = "crashes,pauses,clocks,network";

fn options(nodes: u16, steps: u64, faults: &str) -> RunOptions {
    let mut o = RunOptions::new("dht");
    o.nodes = nodes;
    o.steps = steps;
    o.faults = faults.parse().unwrap();
    o
}

fn assert_all_pass(summary: &SweepSummary) {
    if let Some(report) = summary.failure_report() {
        panic!("{report}");
    }
}

/// Runs one seed and returns its ledger; panics with the replay command on failure.
fn run_with_ledger(opts: &RunOptions) -> Ledger {
    let ledger = Rc::new(RefCell::new(Ledger::default()));
    let outcome = simulation(opts, ledger.clone()).unwrap().run().unwrap();
    let judged = outcome
        .checks
        .iter()
        .any(|c| c.name.starts_with("dht: after") && c.verdict == Verdict::Pass);
    assert!(
        outcome.passed() && judged,
        "seed {}: {:#?}\nreplay: {}",
        opts.seed,
        outcome.checks,
        opts.replay_command()
    );
    let ledger = ledger.borrow().clone();
    ledger
}

fn print_ring(label: &str, opts: &RunOptions, ledger: &Ledger) {
    let ring = ledger.ring.as_ref().expect("the ring was judged");
    println!(
        "{label}: {} nodes, {} lookups walked: mean {:.2} hops, p99 {} hops (log2 N = {:.2}); \
         size estimate mean error {:.0}%; client lookups ok {:.1}%; keys lost {}; stale reads {} \
         [{}]",
        ring.live_nodes,
        ring.hops.len(),
        ring.hops_mean(),
        ring.hops_percentile(0.99),
        (ring.live_nodes as f64).log2(),
        100.0 * ring.size_error_mean,
        100.0 * ledger.lookup_success_rate(),
        ring.keys_lost.len(),
        ledger.stale_reads,
        opts.replay_command()
    );
}

/// CI: 3 seeds of 60,000 events (~25 virtual seconds, 16 nodes, a few
/// seconds each in a debug build) under every fault the dht tolerates; each
/// must reach the ring check and pass it.
#[test]
fn dht_ring_survives_faults_ci_sweep() {
    let opts = options(16, 60_000, FAULTS);
    let mut judged = 0;
    let summary = services::sweep(&opts, 0..3, |r| {
        assert!(
            r.stats.ops_ok > 500,
            "seed {} did almost nothing: {r}",
            r.seed
        );
        let ring = r
            .checks
            .iter()
            .find(|c| c.name.starts_with("dht: after"))
            .expect("the dht registers its ring check");
        judged += u32::from(ring.verdict == Verdict::Pass);
    })
    .unwrap();
    assert_all_pass(&summary);
    assert_eq!(judged, 3, "the ring check was skipped on some seed");
}

#[test]
fn dht_refuses_faults_it_does_not_tolerate() {
    for faults in ["partitions", "corruptions", "byzantine"] {
        let opts = options(8, 1_000, faults);
        let err = services::run(&opts, None).unwrap_err().to_string();
        assert!(err.contains("the dht tolerates"), "{faults}: {err}");
    }
}

/// Lookup hops on a 100-node ring built by joins, no faults: printed, and
/// the mean bounded by log2 N (Chord: about ½·log2 N). ~75 s in debug, so
/// ignored in CI (the sweep above runs the same checks on 16 nodes):
/// `cargo test --release -p skein-sim --test sweep_dht lookup_hops_on_a_ring_of_100 -- --ignored --nocapture`
#[test]
#[ignore]
fn lookup_hops_on_a_ring_of_100() {
    let opts = options(100, 300_000, "none");
    let ledger = run_with_ledger(&opts);
    print_ring("ring of 100", &opts, &ledger);
    let ring = ledger.ring.unwrap();
    assert_eq!(ring.live_nodes, 100);
    assert!(
        ring.hops_mean() <= 100f64.log2(),
        "mean {}",
        ring.hops_mean()
    );
    assert!(
        ring.size_error_mean < 1.0,
        "size estimate off by {}",
        ring.size_error_mean
    );
}

/// The same on 1,000 nodes, all booted within 5 s. This found two
/// successor chains interleaved around the ring, each locally consistent
/// (node 427 with no predecessor and a successor past its true one), which
/// stabilize never merges; the successor check now asks a random finger
/// instead of always the farthest. Seed 0 passes in ~4.5 min (release, loaded
/// 2-core machine):
/// `cargo test --release -p skein-sim --test sweep_dht lookup_hops_on_a_ring_of_1000 -- --ignored --nocapture`
#[test]
#[ignore]
fn lookup_hops_on_a_ring_of_1000() {
    let opts = options(1_000, 9_000_000, "none");
    let ledger = run_with_ledger(&opts);
    print_ring("ring of 1000", &opts, &ledger);
    let ring = ledger.ring.unwrap();
    assert_eq!(ring.live_nodes, 1_000);
    assert!(
        ring.hops_mean() <= 1000f64.log2(),
        "mean {}",
        ring.hops_mean()
    );
}

/// Churn: crashes and restarts (rejoins) every 3–6 s with a lossy network;
/// prints lookup success and data loss per seed (the ring check fails the
/// run if any acknowledged write is lost).
/// `cargo test --release -p skein-sim --test sweep_dht churn -- --ignored --nocapture`
#[test]
#[ignore]
fn churn_lookup_success_and_data_loss() {
    for seed in 0..10 {
        let mut opts = options(32, 200_000, FAULTS);
        opts.seed = seed;
        let ledger = run_with_ledger(&opts);
        print_ring(&format!("churn seed {seed}"), &opts, &ledger);
    }
}

/// The long sweep: 100 seeds of the CI run.
#[test]
#[ignore]
fn dht_long_sweep() {
    let opts = options(16, 80_000, FAULTS);
    let summary = services::sweep(&opts, 0..100, |_| {}).unwrap();
    assert_all_pass(&summary);
}
