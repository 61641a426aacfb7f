//! skein-node: the tokio runtime that drives a skein protocol core.
//!
//! Owns everything with side effects: the TCP stream channel (`5000 + id`),
//! the self-stabilizing UDP datagram channel (`7000 + id`), the durable
//! record log, the REST API with OpenAPI (`4000 + id`), Prometheus metrics
//! (`3000 + id`), logging and configuration.
//!
//! Must not contain protocol logic: a protocol is a `skein_core::Protocol`
//! and runs unchanged here and in the simulator.
//!
//! Start reading at [`runtime`] (the core loop), then [`service`] to see how
//! a protocol becomes a runnable service.

pub mod access;
pub mod address;
pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod datagram;
pub mod discovery;
pub mod error_bodies;
pub mod fuzzing;
pub mod header_limits;
pub mod inbound;
pub mod logging;
pub mod message_metrics;
pub mod metrics;
pub mod node_keys;
pub mod outbox;
pub mod partition;
pub mod peer_set;
pub mod peers;
pub mod runtime;
pub mod service;
pub mod service_api;
pub mod service_histograms;
pub mod services;
pub mod storage;
pub mod stream;
pub mod wal_segments;

pub use config::{ConfigError, NodeOverrides, NodeSettings, PortBases};
pub use runtime::{run_node, run_service};
pub use service::Service;
pub use service_api::{CallError, CoreHandle, NodeFacts, ServiceApi};
pub use tokio_util::sync::CancellationToken;

/// Why a node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen for the {what} on {addr}: {source} (is another node or program using the port? choose other port bases or ids)")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
}
