//! The services a binary can run, by name (`--service NAME`).
//!
//! A service is a protocol plus the generic runtime; registering one is a
//! line: `Service::of::<MyProtocol>("what it does")`.

use crate::config::NodeSettings;
use crate::runtime::run_node;
use crate::NodeError;
use skein_core::Protocol;
use std::future::Future;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

pub type NodeFuture = Pin<Box<dyn Future<Output = Result<(), NodeError>> + Send>>;

#[derive(Clone, Copy)]
pub struct Service {
    pub name: &'static str,
    pub summary: &'static str,
    run: fn(NodeSettings, CancellationToken) -> NodeFuture,
}

impl Service {
    pub fn of<P>(summary: &'static str) -> Self
    where
        P: Protocol + Send,
        P::Status: Send,
    {
        Self {
            name: P::NAME,
            summary,
            run: |settings, shutdown| Box::pin(run_node::<P>(settings, shutdown)),
        }
    }

    pub fn run(&self, settings: NodeSettings, shutdown: CancellationToken) -> NodeFuture {
        (self.run)(settings, shutdown)
    }
}

/// The services built into skein.
pub fn builtin() -> Vec<Service> {
    vec![Service::of::<skein_core::heartbeat::Heartbeat>(
        "every node beats to every other; shows liveness, echo and gossip (the default until a real service is chosen)",
    )]
}
