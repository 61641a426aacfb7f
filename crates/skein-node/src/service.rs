//! The services a binary can run, by name (`--service NAME`).
//!
//! A service is a protocol plus the generic runtime; registering one is a
//! line: `Service::of::<MyProtocol>("what it does")`.

use crate::config::NodeSettings;
use crate::runtime::run_service;
use crate::service_api::ServiceApi;
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
    api: ServiceApi,
    run: fn(NodeSettings, ServiceApi, CancellationToken) -> NodeFuture,
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
            api: ServiceApi::none(),
            run: |settings, api, shutdown| Box::pin(run_service::<P>(settings, api, shutdown)),
        }
    }

    /// Adds the service's own REST endpoints (see [`ServiceApi`]).
    pub fn with_api(self, api: ServiceApi) -> Self {
        Self { api, ..self }
    }

    pub fn run(&self, settings: NodeSettings, shutdown: CancellationToken) -> NodeFuture {
        (self.run)(settings, self.api, shutdown)
    }
}

/// The services built into skein.
pub fn builtin() -> Vec<Service> {
    vec![
        Service::of::<skein_bft::BftNode>(
            "a list replicated as a self-stabilizing Byzantine-tolerant state machine (needs n ≥ 5f+1; 6 nodes for f=1)",
        ),
        Service::of::<skein_core::heartbeat::Heartbeat>(
        "every node beats to every other; shows liveness, echo and gossip (the default until a real service is chosen)",
        ),
    ]
}
