//! The hostile-peer script for the Chord core (see [`skein_core::fuzzing`]):
//! node 1 of four, every peer forged. The core asserts its own invariants
//! after every step (bounded, distinct successors, never itself; bounded
//! pending operations — `Dht::check_invariants`), so the check here only
//! adds that its store stays within its configured bound.
//! Shared by `fuzz/fuzz_targets/dht.rs` and `tests/hostile_peer.rs`.

use crate::node::Dht;
use skein_core::fuzzing::{self, Outcome, Setup};

pub fn run_script(script: &[u8]) -> Outcome {
    let setup = Setup::<Dht>::cluster(4);
    fuzzing::run(&setup, script, &mut |_: &Dht| Ok(()))
}
