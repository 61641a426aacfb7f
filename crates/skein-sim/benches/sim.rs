//! Throughput of the simulator and the linearizability checker.
//!
//! `cargo bench -p skein-sim` — figures are per core (the simulator is
//! single-threaded). Criterion reports "elements/s": message deliveries for
//! the simulator, operations for the checker.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_sim::lin::{check, CheckLimits, KvInput, KvModel, KvOutput, Model, Operation};
use skein_sim::services::{heartbeat, RunOptions};
use std::hint::black_box;

const STEPS: u64 = 200_000;

fn heartbeat_options(clients: u32) -> RunOptions {
    let mut o = RunOptions::new("heartbeat");
    o.steps = STEPS;
    o.clients = clients;
    o
}

/// Message deliveries of one heartbeat run, to express throughput in them.
fn deliveries(opts: &RunOptions) -> u64 {
    heartbeat::simulation(opts)
        .unwrap()
        .run()
        .unwrap()
        .stats
        .messages_delivered
}

fn simulator(c: &mut Criterion) {
    let mut group = c.benchmark_group("heartbeat-5-nodes");
    group.sample_size(10);
    for clients in [0u32, 3] {
        let opts = heartbeat_options(clients);
        group.throughput(Throughput::Elements(deliveries(&opts)));
        group.bench_with_input(
            BenchmarkId::new("deliveries", format!("{clients}-clients")),
            &opts,
            |b, opts| {
                b.iter(|| {
                    black_box(
                        heartbeat::simulation(opts)
                            .unwrap()
                            .run()
                            .unwrap()
                            .trace_hash,
                    )
                })
            },
        );
    }
    group.finish();
}

/// A history of a correct register: `clients` overlapping clients, each
/// operation taking effect at a random point inside its interval.
fn history(ops: usize, keys: u64, clients: u64, seed: u64) -> Vec<Operation<KvInput, KvOutput>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut client_free_us = vec![0u64; clients as usize];
    let mut planned = Vec::with_capacity(ops);
    for i in 0..ops {
        let client = i % clients as usize;
        let start = client_free_us[client] + rng.random_range(1..50);
        let end = start + rng.random_range(1..200);
        client_free_us[client] = end;
        let point = rng.random_range(start..=end);
        let key = rng.random_range(0..keys);
        let input = if rng.random_bool(0.5) {
            KvInput::Get(key)
        } else {
            KvInput::Put(key, i as u64 + 1)
        };
        planned.push((point, client as u32, input, start, end));
    }
    planned.sort_by_key(|p| p.0);
    let mut state = std::collections::BTreeMap::new();
    let mut out: Vec<_> = planned
        .into_iter()
        .map(|(_, client, input, start, end)| {
            let key = KvModel.partition(&input);
            let (next, output) = KvModel.apply(state.get(&key).unwrap_or(&None), &input);
            state.insert(key, next);
            Operation::ok(client, input, output, start, end)
        })
        .collect();
    out.sort_by_key(|o| o.invoke_us);
    out
}

fn checker(c: &mut Criterion) {
    let mut group = c.benchmark_group("linearizability-10k-ops");
    group.sample_size(10);
    group.throughput(Throughput::Elements(10_000));
    for (keys, clients) in [(1u64, 4u64), (1, 8), (10, 8)] {
        let ops = history(10_000, keys, clients, 7);
        assert!(check(&KvModel, &ops, CheckLimits::default()).is_linearizable());
        group.bench_with_input(
            BenchmarkId::new("kv", format!("{keys}-keys-{clients}-clients")),
            &ops,
            |b, ops| b.iter(|| black_box(check(&KvModel, ops, CheckLimits::default()))),
        );
    }
    group.finish();
}

criterion_group!(benches, simulator, checker);
criterion_main!(benches);
