//! The hostile-peer script for the Raft core (see [`skein_core::fuzzing`]):
//! node 1 of three, both peers forged. Raft tolerates crashes, not lies, so
//! forged messages may make this node commit what a real leader never did;
//! what must still hold is the node's own consistency: it never panics,
//! applies no more than it committed, commits no more than it holds, and
//! never changes an entry it once showed committed.
//! Shared by `fuzz/fuzz_targets/raft.rs` and `tests/hostile_peer.rs`.

use crate::checks::History;
use crate::raft::Raft;
use skein_core::fuzzing::{self, Outcome, Setup};

pub fn run_script(script: &[u8]) -> Outcome {
    let setup = Setup::<Raft>::cluster(3);
    let mut history = History::default();
    fuzzing::run(&setup, script, &mut |node: &Raft| {
        let log = node.log_view();
        if node.commit_index() > log.last_index() {
            return Err(format!(
                "commit index {} beyond the last entry {}",
                node.commit_index(),
                log.last_index()
            ));
        }
        if node.applied_index() > node.commit_index() {
            return Err(format!(
                "applied {} beyond commit {}",
                node.applied_index(),
                node.commit_index()
            ));
        }
        history.observe(&[node])
    })
}
