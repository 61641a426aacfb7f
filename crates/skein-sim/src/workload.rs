//! Workloads: what simulated clients ask of a service and how a reply reads
//! as an outcome of the service's sequential model.

use crate::lin::Model;
use rand::RngCore;
use skein_core::Protocol;

/// How one reply reads, from the client's side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<O> {
    Ok(O),
    /// Definitely did not take effect (e.g. refused before doing anything).
    Fail,
    /// May or may not have taken effect (e.g. the node timed out internally).
    Unknown,
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
        &self,
        input: &ModelInput<Self, P>,
        reply: &P::Reply,
    ) -> Outcome<ModelOutput<Self, P>>;

    /// Whether the history is worth a linearizability check at all.
    fn check_linearizability(&self) -> bool {
        true
    }
}
