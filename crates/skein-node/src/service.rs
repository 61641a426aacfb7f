//! The services a binary can run, by name (`--service NAME`).
//!
//! A service is a protocol plus the generic runtime; registering one is a
//! line: `Service::of::<MyProtocol>("what it does")`.

use crate::config::{ConfigError, NodeSettings};
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
    prepare: fn(&mut NodeSettings) -> Result<(), ConfigError>,
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
            prepare: |_| Ok(()),
            run: |settings, api, shutdown| Box::pin(run_service::<P>(settings, api, shutdown)),
        }
    }

    /// Adds the service's own REST endpoints (see [`ServiceApi`]).
    pub fn with_api(self, api: ServiceApi) -> Self {
        Self { api, ..self }
    }

    /// Adapts the node's settings before the service starts: hands node-level
    /// settings the service understands (`--byzantine`,
    /// `--allow-fault-injection`) to its config table, or refuses them.
    pub fn with_prepare(self, prepare: fn(&mut NodeSettings) -> Result<(), ConfigError>) -> Self {
        Self { prepare, ..self }
    }

    pub fn run(&self, mut settings: NodeSettings, shutdown: CancellationToken) -> NodeFuture {
        if let Err(error) = self.prepare(&mut settings) {
            return Box::pin(async move { Err(NodeError::Config(error)) });
        }
        (self.run)(settings, self.api, shutdown)
    }

    /// The service's own adaptation of the settings, and the refusal of
    /// `--byzantine` by services that have no Byzantine behaviours.
    pub fn prepare(&self, settings: &mut NodeSettings) -> Result<(), ConfigError> {
        (self.prepare)(settings).and_then(|()| match &settings.byzantine {
            // A prepare step that understands `--byzantine` takes it.
            Some(behaviour) => Err(ConfigError::new(
                "byzantine",
                behaviour,
                format!(
                    "no --byzantine: the {} service has no Byzantine behaviours (bftlist has)",
                    self.name
                ),
            )),
            None => Ok(()),
        })
    }
}

/// The services built into skein.
pub fn builtin() -> Vec<Service> {
    vec![
        Service::of::<skein_bft::BftNode>(
            "a list replicated as a self-stabilizing Byzantine-tolerant state machine (needs n ≥ 5f+1; 6 nodes for f=1)",
        )
        .with_api(crate::services::bft_http::api())
        .with_prepare(crate::services::bft_http::prepare),
        Service::of::<skein_raft::Raft>(
            "a linearizable key-value store replicated with Raft (tolerates f crashed of 2f+1; 3 nodes for f=1)",
        )
        .with_api(crate::services::raft_http::api()),
        Service::of::<skein_dht::Dht>(
            "a Chord ring storing keys on r=3 successive nodes; joins, leaves and crashes (--set join=ID@HOST:TCP:UDP)",
        )
        .with_api(crate::services::dht_http::api()),
        Service::of::<skein_gossip::Gossip>(
            "a peer-to-peer overlay: signed identities, boot-node join, SWIM membership, Plumtree broadcast",
        )
        .with_api(crate::services::gossip_http::api())
        .with_prepare(crate::services::gossip_http::prepare),
        Service::of::<skein_core::heartbeat::Heartbeat>(
        "every node beats to every other; shows liveness, echo and gossip (the default until a real service is chosen)",
        ),
    ]
}
