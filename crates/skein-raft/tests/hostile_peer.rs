//! CI stand-in for the libFuzzer target `fuzz/fuzz_targets/raft.rs`
//! (see fuzz/README.md): the committed seed corpus `fuzz/seeds/raft`,
//! recorded from a small three-node Raft cluster, is replayed through the same
//! harness (skein_raft::fuzzing::run_script), then proptest runs random and mutated scripts.
//! A few seconds in debug.
//!
//! Regenerate the seeds: `cargo test -p skein-raft --test hostile_peer -- --ignored write_seeds`

use proptest::prelude::*;
use skein_core::fuzzing::{record_traffic, Setup};

#[path = "../../skein-core/tests/support/seed_corpus.rs"]
mod seed_corpus;
use seed_corpus::{mutated_seed, replay_corpus, seed_dir};

const TARGET: &str = "raft";

#[test]
fn the_seed_corpus_replays_without_a_finding() {
    replay_corpus(TARGET, |seed| {
        skein_raft::fuzzing::run_script(seed).messages_decoded
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_scripts_never_break_the_core(script in prop::collection::vec(any::<u8>(), 0..1500)) {
        skein_raft::fuzzing::run_script(&script);
    }

    #[test]
    fn mutated_seeds_never_break_the_core(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let script = mutated_seed(TARGET, which, &flips);
        skein_raft::fuzzing::run_script(&script);
    }
}

#[test]
#[ignore = "writes fuzz/seeds/raft; run by hand when messages change"]
fn write_seeds() {
    let dir = seed_dir(TARGET);
    std::fs::create_dir_all(&dir).unwrap();
    let setup = Setup::<skein_raft::Raft>::cluster(3);
    let requests = (0..40)
        .map(|k| {
            let to = skein_core::NodeId(1 + k % 3);
            (
                to,
                skein_raft::Request::Put {
                    key: format!("k{}", k % 5),
                    value: format!("v{k}"),
                },
            )
        })
        .collect::<Vec<_>>();
    for (seed, rounds) in [(1u8, 20usize), (2, 60), (3, 150)] {
        let script = record_traffic(&setup, seed, rounds, &requests);
        std::fs::write(dir.join(format!("recorded-{seed}-{rounds}")), script).unwrap();
    }
}
