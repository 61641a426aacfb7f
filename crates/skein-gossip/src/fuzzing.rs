//! The hostile-peer script for the gossip core (see [`skein_core::fuzzing`]):
//! node 1 of four, every peer forged. Whatever peers say, membership stays
//! within `members_max` and never a panic.
//! Shared by `fuzz/fuzz_targets/gossip.rs` and `tests/hostile_peer.rs`.

use crate::node::Gossip;
use skein_core::fuzzing::{self, Outcome, Setup};

pub fn run_script(script: &[u8]) -> Outcome {
    let setup = Setup::<Gossip>::cluster(4);
    let members_max = setup.config.members_max;
    fuzzing::run(&setup, script, &mut |node: &Gossip| {
        if node.membership().len() > members_max {
            return Err(format!(
                "membership holds {} nodes, over members_max {members_max}",
                node.membership().len()
            ));
        }
        Ok(())
    })
}
