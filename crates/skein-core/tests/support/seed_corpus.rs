//! The committed seed corpora of the libFuzzer targets (`fuzz/seeds/TARGET`),
//! shared by every crate's CI stand-in (`tests/hostile_peer.rs`), which
//! includes this file by path: reading files is test-side I/O, so it cannot
//! live in skein-core's `fuzzing` module.

use proptest::sample::Index;
use std::path::PathBuf;

pub fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

/// Every seed of `target`, in file-name order.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seed_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/seeds/{target} exists: {e}"))
        .map(|e| e.expect("a readable entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("a readable seed"))
        .collect()
}

/// Replays every seed through `run` (which returns the messages it decoded)
/// and checks the recorded traffic reaches the core, not just the decoder.
pub fn replay_corpus(target: &str, run: impl Fn(&[u8]) -> usize) {
    let seeds = seeds(target);
    assert!(seeds.len() >= 3, "fuzz/seeds/{target} holds its seeds");
    let decoded: usize = seeds.iter().map(|seed| run(seed)).sum();
    assert!(decoded > 20, "only {decoded} messages of the seeds decoded");
}

/// One of `target`'s seeds with a few bytes flipped.
pub fn mutated_seed(target: &str, which: Index, flips: &[(Index, u8)]) -> Vec<u8> {
    let seeds = seeds(target);
    let mut script = which.get(&seeds).clone();
    for (at, byte) in flips {
        if !script.is_empty() {
            let i = at.index(script.len());
            script[i] ^= byte;
        }
    }
    script
}
