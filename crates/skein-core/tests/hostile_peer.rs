//! CI stand-in for the libFuzzer target `fuzz/fuzz_targets/heartbeat.rs`
//! (see fuzz/README.md): the committed seed corpus `fuzz/seeds/heartbeat`,
//! recorded from a small three-node heartbeat cluster, is replayed through the same
//! harness (skein_core::fuzzing::run_heartbeat), then proptest runs random and mutated scripts.
//! A few seconds in debug.
//!
//! Regenerate the seeds: `cargo test -p skein-core --test hostile_peer -- --ignored write_seeds`

use proptest::prelude::*;
use skein_core::fuzzing::{record_traffic, Setup};

#[path = "support/seed_corpus.rs"]
mod seed_corpus;
use seed_corpus::{mutated_seed, replay_corpus, seed_dir};

const TARGET: &str = "heartbeat";

#[test]
fn the_seed_corpus_replays_without_a_finding() {
    replay_corpus(TARGET, |seed| {
        skein_core::fuzzing::run_heartbeat(seed).messages_decoded
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_scripts_never_break_the_core(script in prop::collection::vec(any::<u8>(), 0..1500)) {
        skein_core::fuzzing::run_heartbeat(&script);
    }

    #[test]
    fn mutated_seeds_never_break_the_core(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let script = mutated_seed(TARGET, which, &flips);
        skein_core::fuzzing::run_heartbeat(&script);
    }
}

#[test]
#[ignore = "writes fuzz/seeds/heartbeat; run by hand when messages change"]
fn write_seeds() {
    let dir = seed_dir(TARGET);
    std::fs::create_dir_all(&dir).unwrap();
    let setup = Setup::<skein_core::heartbeat::Heartbeat>::cluster(3);
    let requests = (0..10)
        .map(|k| {
            let to = skein_core::NodeId(1 + k % 3);
            (
                to,
                skein_core::heartbeat::HeartbeatRequest::Gossip {
                    text: format!("g{k}"),
                },
            )
        })
        .collect::<Vec<_>>();
    for (seed, rounds) in [(1u8, 20usize), (2, 60), (3, 150)] {
        let script = record_traffic(&setup, seed, rounds, &requests);
        std::fs::write(dir.join(format!("recorded-{seed}-{rounds}")), script).unwrap();
    }
}
