//! Same seed and config ⇒ the same run, bit for bit: compared by the hash of
//! the whole event trace and by the trace itself.

use skein_sim::services::{self, RunOptions};
use skein_sim::trace::TraceEvent;
use skein_sim::FaultSet;

fn options(service: &str, seed: u64) -> RunOptions {
    let mut o = RunOptions::new(service);
    o.seed = seed;
    o.steps = 30_000;
    o.faults = FaultSet::all();
    o
}

fn traced(opts: &RunOptions) -> (u64, Vec<TraceEvent>) {
    let mut events = Vec::new();
    let report = services::run(
        opts,
        Some(Box::new(|e: &TraceEvent| events.push(e.clone()))),
    )
    .unwrap();
    (report.trace_hash, events)
}

#[test]
fn the_same_seed_replays_the_same_trace_with_every_fault_on() {
    for service in ["heartbeat", "register"] {
        let opts = options(service, 7);
        let (hash_a, trace_a) = traced(&opts);
        let (hash_b, trace_b) = traced(&opts);
        assert_eq!(hash_a, hash_b, "{service}: trace hashes differ");
        assert_eq!(trace_a, trace_b, "{service}: traces differ");
        assert!(
            trace_a.len() > 10_000,
            "{service}: trace too short to mean much"
        );
        // Hashing alone (no sink) sees the same run.
        let plain = services::run(&opts, None).unwrap();
        assert_eq!(plain.trace_hash, hash_a);
        assert_eq!(
            plain,
            services::run(&opts, None).unwrap(),
            "{service}: reports differ"
        );
    }
}

#[test]
fn different_seeds_give_different_runs() {
    let a = services::run(&options("heartbeat", 1), None).unwrap();
    let b = services::run(&options("heartbeat", 2), None).unwrap();
    assert_ne!(a.trace_hash, b.trace_hash);
}

#[test]
fn byzantine_and_twins_runs_are_deterministic_too() {
    let mut opts = options("heartbeat", 3);
    opts.byzantine = vec![
        "1:twins".parse().unwrap(),
        "2:replay".parse().unwrap(),
        "3:random".parse().unwrap(),
    ];
    let a = services::run(&opts, None).unwrap();
    let b = services::run(&opts, None).unwrap();
    assert_eq!(a, b);
    assert!(a.stats.byzantine_injected > 0);
}

#[test]
fn trace_events_serialize_as_json_lines() {
    let mut opts = options("register", 1);
    opts.steps = 200;
    let (_, events) = traced(&opts);
    let line = serde_json::to_string(&events[0]).unwrap();
    assert!(line.starts_with("{\"step\":"), "{line}");
    assert!(!line.contains('\n'));
}
