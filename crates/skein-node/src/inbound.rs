//! What reaches a node's core loop from its transports, storage and API.

use serde_json::Value;
use skein_core::{Channel, NodeId};
use tokio::sync::oneshot;

/// The core loop's input queue holds at most this many items; producers wait
/// (stream readers, storage) or drop and count (datagrams).
pub const INBOUND_QUEUE_MAX: usize = 4096;

#[derive(Debug)]
pub struct InboundFrame {
    pub from: NodeId,
    pub channel: Channel,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub enum Inbound {
    Frame(InboundFrame),
    Persisted {
        token: u64,
    },
    StorageFailed {
        token: u64,
        error: String,
    },
    Api(ApiCommand),
    /// A peer found by DNS discovery where it answers now (see `discovery`).
    Discovered(crate::address::PeerSpec),
}

/// Why a client request got no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The body is not a request of this service.
    BadRequest(String),
    /// Too many requests are waiting for replies.
    Busy,
    /// The node is shutting down.
    Stopping,
}

#[derive(Debug)]
pub enum ApiCommand {
    Status {
        reply: oneshot::Sender<Value>,
    },
    Request {
        body: Value,
        reply: oneshot::Sender<Result<Value, RequestError>>,
    },
}
