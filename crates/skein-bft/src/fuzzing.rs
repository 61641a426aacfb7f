//! The hostile-peer script for the BFTList core (see
//! [`skein_core::fuzzing`]): replica 1 of six (f = 1) with one Byzantine
//! peer, replica 2, saying anything; the other four stay silent. With one
//! liar and no quorum of correct replicas, nothing may be executed (§6.1:
//! only values clients issued, ordered by n − 2f replicas), and the state
//! stays within its configured bounds. Never a panic.
//! Shared by `fuzz/fuzz_targets/bftlist.rs` and `tests/hostile_peer.rs`.

use crate::message::BftRequest;
use crate::node::BftNode;
use skein_core::fuzzing::{self, Outcome, Setup};
use skein_core::NodeId;

pub fn run_script(script: &[u8]) -> Outcome {
    let mut setup = Setup::<BftNode>::cluster(6);
    setup.senders = vec![NodeId(2)];
    // Operator requests (fault injection) need --allow-fault-injection; clients' requests pass.
    setup.admits = |request| !matches!(request, BftRequest::Admin(_));
    fuzzing::run(&setup, script, &mut |node: &BftNode| {
        let me = node.params().me;
        let own = &node.state().rep.rep[me];
        if !own.machine.list.is_empty() {
            return Err(format!(
                "replica executed {:?} with one liar and no quorum",
                own.machine.list
            ));
        }
        Ok(())
    })
}
