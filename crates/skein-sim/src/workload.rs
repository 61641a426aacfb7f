//! Workloads: what simulated clients ask of a service and how a reply reads
//! as an outcome of the service's sequential model.

use crate::lin::Model;
use rand::RngCore;
use skein_core::{NodeId, Protocol};

/// How one reply reads, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    Ok(O),
    /// Definitely did not take effect (e.g. refused before doing anything).
    Fail,
    /// May or may not have taken effect (e.g. the node timed out internally).
    Unknown,
    /// This attempt did nothing (e.g. "not the leader"): send the same
    /// request again, to the node named or else to a random one. The
    /// operation stays open; its client timeout keeps running.
    Retry(Option<NodeId>),
    /// Not decided by this reply alone (a fanned-out request waiting for a
    /// quorum of matching replies): keep waiting for the others.
    Wait,
}

/// Which attempt of which operation a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyFrom {
    /// Index of the operation in the history (stable for its whole life).
    pub op: usize,
    /// The node that replied.
    pub node: NodeId,
}

pub type ModelInput<W, P> = <<W as Workload<P>>::Model as Model>::Input;
pub type ModelOutput<W, P> = <<W as Workload<P>>::Model as Model>::Output;

/// The client side of a service in the simulator.
pub trait Workload<P: Protocol> {
    type Model: Model;

    /// The sequential specification the history is checked against.
    fn model(&self) -> Self::Model;

    /// The next operation of `client`: the request to send and the same
    /// operation as a model input. `None`: this client is done.
    fn next_op(
        &mut self,
        rng: &mut dyn RngCore,
        client: u32,
    ) -> Option<(P::Request, ModelInput<Self, P>)>;

    /// Reads a reply to an operation with model input `input`.
    fn outcome(
        &mut self,
        from: ReplyFrom,
        input: &ModelInput<Self, P>,
        reply: &P::Reply,
    ) -> Outcome<ModelOutput<Self, P>>;

    /// Whether each request goes to every member at once (BFT clients, which
    /// then count matching replies with [`Outcome::Wait`]) instead of one.
    fn fan_out(&self) -> bool {
        false
    }

    /// Operation `op` ended (decided or timed out): drop what was kept for it.
    fn forget(&mut self, op: usize) {
        let _ = op;
    }

    /// Whether the history is worth a linearizability check at all.
    fn check_linearizability(&self) -> bool {
        true
    }

    /// Whether the history must stay linearizable across transient faults
    /// (see [`crate::check::ClusterView::transient_faults`]). A
    /// self-stabilizing service that persists nothing answers false: after
    /// such a fault it only promises to converge, which its own checks judge.
    fn linearizable_across_transient_faults(&self) -> bool {
        true
    }
}
