//! How a service adds its own REST endpoints to a node.
//!
//! A service's handlers never touch the protocol directly: they call the
//! core loop through a [`CoreHandle`], which sends a typed request and
//! waits (bounded by the request timeout) for the protocol's reply. The
//! service also hands over the OpenAPI paths of its routes, which are merged
//! into the node's `/openapi.json` and `/docs`.

use crate::address::PeerSpec;
use crate::config::PortBases;
use crate::inbound::{ApiCommand, Inbound, RequestError};
use crate::metrics::NodeMetrics;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use skein_core::NodeId;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What a service adds to the node's REST API.
#[derive(Clone, Copy)]
pub struct ServiceApi {
    pub routes: fn(CoreHandle) -> Router,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

impl ServiceApi {
    /// No endpoints beyond the ones every node has.
    pub fn none() -> Self {
        Self {
            routes: |_| Router::new(),
            openapi: || utoipa::openapi::OpenApiBuilder::new().build(),
        }
    }
}

/// Why a call into the core loop gave no reply. Renders as a JSON error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("not a valid request for this service: {0}")]
    BadRequest(String),
    #[error("too many requests in flight; retry later")]
    Busy,
    #[error("the node is shutting down")]
    Stopping,
    #[error("no reply within {0:?}; the request may still take effect")]
    Timeout(Duration),
    #[error("the service replied with something unexpected: {0}")]
    BadReply(String),
}

impl CallError {
    pub fn status(&self) -> StatusCode {
        match self {
            CallError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CallError::Busy | CallError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            CallError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            CallError::BadReply(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            CallError::BadRequest(_) => "bad_request",
            CallError::Busy => "busy",
            CallError::Stopping => "stopping",
            CallError::Timeout(_) => "timeout",
            CallError::BadReply(_) => "bad_reply",
        }
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        crate::api::error_response(self.status(), self.code(), self.to_string())
    }
}

/// A cheap, cloneable line into the node's core loop.
#[derive(Clone)]
pub struct CoreHandle {
    core: mpsc::Sender<Inbound>,
    timeout: Duration,
    metrics: NodeMetrics,
    /// Shared, not owned: axum clones the handle (through every layer of
    /// the router) for each HTTP request, and a deep copy of the facts —
    /// the client key map holds one key per (service, client) — cost a
    /// replica more CPU than the protocol itself under load.
    node: Arc<NodeFacts>,
}

/// What a service's handlers may need to know about the node they run on.
#[derive(Clone, Debug)]
pub struct NodeFacts {
    pub id: skein_core::NodeId,
    pub members: Vec<skein_core::NodeId>,
    /// `--allow-fault-injection`: serve endpoints that corrupt state or set Byzantine behaviour.
    pub allow_fault_injection: bool,
    /// The REST API port base: node N serves its API on `api_base + N`.
    pub api_base: u16,
    /// Every port base, to read peer addresses given in short form (`4@HOST`).
    pub port_bases: PortBases,
    /// Where each peer is (from `--peers`, and peers added at run time), so
    /// a handler can name another node's API.
    pub peer_hosts: PeerDirectory,
    /// How this node checks its clients' request tags (see `node_keys`).
    pub client_auth: crate::node_keys::ClientAuth,
}

impl NodeFacts {
    /// The REST API base URL of peer `id` (`http://HOST:PORT`), if it is a known peer.
    pub fn peer_api_url(&self, id: NodeId) -> Option<String> {
        let host = self.peer_hosts.get(id)?.stream.ip();
        let port = PortBases::port(self.api_base, id)?;
        Some(format!("http://{}", std::net::SocketAddr::new(host, port)))
    }
}

/// The address of every node this one has known as a peer: its `--peers`,
/// then each peer the core added (`Effect::AddPeer`), a new address
/// replacing the old. A removed peer's entry stays — it is still where that
/// node is, should it be added again. Bounded by the id space (1 to 999,
/// `PeerSpec::parse`), one entry per id.
#[derive(Clone, Debug, Default)]
pub struct PeerDirectory(Arc<RwLock<BTreeMap<NodeId, PeerSpec>>>);

impl PeerDirectory {
    pub fn new(peers: impl IntoIterator<Item = PeerSpec>) -> Self {
        let peers = peers.into_iter().map(|p| (p.id, p)).collect();
        Self(Arc::new(RwLock::new(peers)))
    }

    pub fn insert(&self, peer: PeerSpec) {
        // A poisoned lock still holds a whole map: inserts are single operations.
        let mut peers = self.0.write().unwrap_or_else(|p| p.into_inner());
        peers.insert(peer.id, peer);
    }

    pub fn get(&self, id: NodeId) -> Option<PeerSpec> {
        let peers = self.0.read().unwrap_or_else(|p| p.into_inner());
        peers.get(&id).cloned()
    }

    /// The ids with a known address, ascending.
    pub fn ids(&self) -> Vec<NodeId> {
        let peers = self.0.read().unwrap_or_else(|p| p.into_inner());
        peers.keys().copied().collect()
    }
}

impl CoreHandle {
    pub(crate) fn new(
        core: mpsc::Sender<Inbound>,
        timeout: Duration,
        metrics: NodeMetrics,
        node: NodeFacts,
    ) -> Self {
        Self {
            core,
            timeout,
            metrics,
            node: Arc::new(node),
        }
    }

    pub fn node(&self) -> &NodeFacts {
        &self.node
    }

    /// The node's metrics, so a service can count its own events.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Sends one request of the service and waits for its reply.
    pub async fn request<Req: Serialize, Rep: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<Rep, CallError> {
        let body =
            serde_json::to_value(request).map_err(|e| CallError::BadRequest(e.to_string()))?;
        let reply = self.request_json(body).await?;
        serde_json::from_value(reply).map_err(|e| CallError::BadReply(e.to_string()))
    }

    /// As [`CoreHandle::request`], for a request already in JSON.
    pub async fn request_json(&self, body: Value) -> Result<Value, CallError> {
        let (reply, answer) = oneshot::channel();
        let started = std::time::Instant::now();
        let result = self
            .call(ApiCommand::Request { body, reply }, answer)
            .await?
            .map_err(|error| match error {
                RequestError::BadRequest(why) => CallError::BadRequest(why),
                RequestError::Busy => CallError::Busy,
                RequestError::Stopping => CallError::Stopping,
            });
        if result.is_ok() {
            self.metrics
                .request_duration
                .observe(started.elapsed().as_secs_f64());
        }
        result
    }

    /// The protocol's own status, as JSON.
    pub async fn status(&self) -> Result<Value, CallError> {
        let (reply, answer) = oneshot::channel();
        self.call(ApiCommand::Status { reply }, answer).await
    }

    async fn call<T>(
        &self,
        command: ApiCommand,
        answer: oneshot::Receiver<T>,
    ) -> Result<T, CallError> {
        self.core
            .send(Inbound::Api(command))
            .await
            .map_err(|_| CallError::Stopping)?;
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(CallError::Stopping),
            Err(_) => {
                self.metrics.request("timeout");
                Err(CallError::Timeout(self.timeout))
            }
        }
    }
}

/// A JSON reply with status 200.
pub fn ok<T: Serialize>(value: T) -> Response {
    (StatusCode::OK, Json(value)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// axum clones the handle for every HTTP request: the node's facts
    /// (with the client key map) must be shared by the clones, not copied.
    #[test]
    fn cloned_handles_share_the_node_facts() {
        let (tx, _rx) = mpsc::channel(1);
        let facts = NodeFacts {
            id: NodeId(1),
            members: vec![NodeId(1)],
            allow_fault_injection: false,
            api_base: 4000,
            port_bases: Default::default(),
            peer_hosts: Default::default(),
            client_auth: Default::default(),
        };
        let metrics = NodeMetrics::new(NodeId(1), "bftlist");
        let handle = CoreHandle::new(tx, Duration::from_secs(1), metrics, facts);
        let clone = handle.clone();
        assert!(std::ptr::eq(handle.node(), clone.node()));
    }
}
