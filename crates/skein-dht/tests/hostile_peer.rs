//! CI stand-in for the libFuzzer target `fuzz/fuzz_targets/dht.rs`
//! (see fuzz/README.md): the committed seed corpus `fuzz/seeds/dht`,
//! recorded from a small four-node Chord cluster, is replayed through the same
//! harness (skein_dht::fuzzing::run_script), then proptest runs random and mutated scripts.
//! A few seconds in debug.
//!
//! Regenerate the seeds: `cargo test -p skein-dht --test hostile_peer -- --ignored write_seeds`

use proptest::prelude::*;
use skein_core::fuzzing::{record_traffic, Setup};
use std::path::PathBuf;

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/dht")
}

fn seeds() -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seed_dir())
        .expect("fuzz/seeds/dht exists")
        .map(|e| e.expect("a readable entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("a readable seed"))
        .collect()
}

#[test]
fn the_seed_corpus_replays_without_a_finding() {
    let seeds = seeds();
    assert!(seeds.len() >= 3, "fuzz/seeds/dht holds its seeds");
    let mut decoded = 0;
    for seed in &seeds {
        decoded += skein_dht::fuzzing::run_script(seed).messages_decoded;
    }
    // Recorded traffic decodes: the seeds reach the core, not just the decoder.
    assert!(decoded > 20, "only {decoded} messages of the seeds decoded");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn random_scripts_never_break_the_core(script in prop::collection::vec(any::<u8>(), 0..1500)) {
        skein_dht::fuzzing::run_script(&script);
    }

    #[test]
    fn mutated_seeds_never_break_the_core(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let seeds = seeds();
        let mut script = which.get(&seeds).clone();
        for (at, byte) in flips {
            if !script.is_empty() {
                let i = at.index(script.len());
                script[i] ^= byte;
            }
        }
        skein_dht::fuzzing::run_script(&script);
    }
}

#[test]
#[ignore = "writes fuzz/seeds/dht; run by hand when messages change"]
fn write_seeds() {
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let setup = Setup::<skein_dht::Dht>::cluster(4);
    let requests = (0..40)
        .map(|k| {
            let to = skein_core::NodeId(1 + k % 4);
            (
                to,
                skein_dht::Request::Put {
                    key: format!("k{k}"),
                    value: vec![k as u8; 3],
                },
            )
        })
        .collect::<Vec<_>>();
    for (seed, rounds) in [(1u8, 20usize), (2, 60), (3, 150)] {
        let script = record_traffic(&setup, seed, rounds, &requests);
        std::fs::write(dir.join(format!("recorded-{seed}-{rounds}")), script).unwrap();
    }
}
