//! The `dht` service's REST API: ring information, join and leave, and the
//! JSON shapes and error mapping its key handlers ([`super::dht_keys_http`])
//! share. Metrics are in [`super::dht_metrics`].
//!
//! Any node answers any request: a network-store request is routed through
//! the ring by the node that receives it.

use super::dht_keys_http as keys;
use crate::api::{error_response, ErrorBody};
use crate::service_api::{CallError, CoreHandle};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use skein_core::PeerAddress;
use skein_dht::{DhtError, NodeRef, Reply, Request, Version};
use utoipa::{OpenApi, ToSchema};

/// A PUT body holds one value; the value limit itself is the core's
/// (`value_bytes_max`, 64 KiB by default), checked there.
pub const DHT_BODY_BYTES_MAX: usize = 1 << 20;

pub fn api() -> crate::service_api::ServiceApi {
    crate::service_api::ServiceApi {
        routes,
        openapi: DhtDoc::openapi,
    }
}

fn routes(core: CoreHandle) -> Router {
    super::dht_metrics::spawn_sampler(core.clone());
    Router::new()
        .route(
            "/api/v1/dht/keys/{*key}",
            get(keys::get).put(keys::put).delete(keys::remove),
        )
        .route(
            "/api/v1/dht/local/{*key}",
            get(keys::local_get)
                .put(keys::local_put)
                .delete(keys::local_remove),
        )
        .route("/api/v1/dht/lookup/{*key}", get(keys::lookup))
        .route("/api/v1/dht/routing", get(routing))
        .route("/api/v1/dht/size", get(size))
        .route("/api/v1/dht/join", post(join))
        .route("/api/v1/dht/leave", post(leave))
        .layer(DefaultBodyLimit::max(DHT_BODY_BYTES_MAX))
        .with_state(core)
}

#[derive(OpenApi)]
#[openapi(
    paths(keys::get, keys::put, keys::remove, keys::local_get, keys::local_put,
          keys::local_remove, keys::lookup, routing, size, join, leave),
    components(schemas(NodeBody, VersionBody, keys::ValueBody, keys::StoredBody,
                       keys::DeletedBody, keys::LookupBody, RoutingBody, FingerBody,
                       SizeBody, JoinBody, JoiningBody, LeftBody)),
    tags((name = "dht", description = "The dht service: a Chord ring storing keys on r=3 \
        successive nodes. Keys ≤ 1 KiB, values ≤ 64 KiB by default. Any node serves any key."))
)]
struct DhtDoc;

/// A ring node.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeBody {
    pub id: u16,
    /// Ring position: 40 hex digits (160 bits of SHA-256 of the address).
    pub ring: String,
    pub address: String,
}

impl From<&NodeRef> for NodeBody {
    fn from(n: &NodeRef) -> Self {
        Self {
            id: n.id.0,
            ring: n.ring.to_hex(),
            address: n.address.0.clone(),
        }
    }
}

/// Last writer wins: higher `counter`, then higher `writer` node id.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionBody {
    pub counter: u64,
    pub writer: u16,
}

impl From<Version> for VersionBody {
    fn from(v: Version) -> Self {
        Self {
            counter: v.counter,
            writer: v.writer,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FingerBody {
    /// Fingers `from_index..=to_index` (start = this node + 2^index) all point here.
    pub from_index: u8,
    pub to_index: u8,
    pub node: NodeBody,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoutingBody {
    pub node: NodeBody,
    /// `joining`, `member` or `left`.
    pub state: String,
    pub predecessor: Option<NodeBody>,
    pub successors: Vec<NodeBody>,
    pub fingers: Vec<FingerBody>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SizeBody {
    /// Estimated nodes in the ring (from the density of nearby ids; no messages).
    pub nodes: f64,
    /// Id gaps the estimate used; the error shrinks like 1/√gaps.
    pub gaps: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// A ring node: `ID@HOST:STREAM_PORT:DATAGRAM_PORT` (this node's own address starts a new ring).
    pub via: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JoiningBody {
    pub joining: bool,
    pub via: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LeftBody {
    /// Keys sent to the successor before leaving.
    pub items_handed_over: usize,
}

/// The status and stable code of each core error.
pub(crate) fn dht_error(error: DhtError) -> Response {
    let (status, code) = match &error {
        DhtError::KeyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "key_too_large"),
        DhtError::ValueTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "value_too_large"),
        DhtError::StoreFull { .. } => (StatusCode::INSUFFICIENT_STORAGE, "store_full"),
        DhtError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        DhtError::NotJoined => (StatusCode::SERVICE_UNAVAILABLE, "not_joined"),
        DhtError::LookupFailed { .. } => (StatusCode::SERVICE_UNAVAILABLE, "lookup_failed"),
        DhtError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        DhtError::RingChanging => (StatusCode::SERVICE_UNAVAILABLE, "ring_changing"),
    };
    let mut response = error_response(status, code, error.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// A reply that is not the success a handler expects.
pub(crate) fn refusal(reply: Reply) -> Response {
    match reply {
        Reply::Error(error) => dht_error(error),
        other => CallError::BadReply(format!("{other:?}")).into_response(),
    }
}

/// This node's predecessor, successor list and finger table.
#[utoipa::path(get, path = "/api/v1/dht/routing", tag = "dht",
    responses((status = 200, body = RoutingBody), (status = 504, body = ErrorBody)))]
pub async fn routing(State(core): State<CoreHandle>) -> Response {
    match core.request::<_, Reply>(&Request::Routing).await {
        Ok(Reply::Routing(view)) => Json(RoutingBody {
            node: (&view.node).into(),
            state: view.state,
            predecessor: view.predecessor.as_ref().map(Into::into),
            successors: view.successors.iter().map(Into::into).collect(),
            fingers: view
                .fingers
                .iter()
                .map(|f| FingerBody {
                    from_index: f.from_index,
                    to_index: f.to_index,
                    node: (&f.node).into(),
                })
                .collect(),
        })
        .into_response(),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

/// The ring's size as this node estimates it.
#[utoipa::path(get, path = "/api/v1/dht/size", tag = "dht",
    responses((status = 200, body = SizeBody), (status = 504, body = ErrorBody)))]
pub async fn size(State(core): State<CoreHandle>) -> Response {
    match core.request::<_, Reply>(&Request::Size).await {
        Ok(Reply::Size(s)) => Json(SizeBody {
            nodes: s.nodes,
            gaps: s.gaps,
        })
        .into_response(),
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

/// Joins (or rejoins) a ring through a node of it; answers at once, the join
/// completes in the background (watch `GET /api/v1/dht/routing`).
#[utoipa::path(post, path = "/api/v1/dht/join", tag = "dht", request_body = JoinBody,
    responses((status = 202, body = JoiningBody), (status = 400, body = ErrorBody)))]
pub async fn join(
    State(core): State<CoreHandle>,
    body: Result<Json<JoinBody>, JsonRejection>,
) -> Response {
    let via = match body {
        Ok(Json(body)) => body.via,
        Err(rejection) => {
            return error_response(StatusCode::BAD_REQUEST, "bad_body", rejection.body_text())
        }
    };
    let request = Request::Join {
        via: PeerAddress(via.clone()),
    };
    match core.request::<_, Reply>(&request).await {
        Ok(Reply::Joining) => (
            StatusCode::ACCEPTED,
            Json(JoiningBody { joining: true, via }),
        )
            .into_response(),
        Ok(Reply::Error(DhtError::LookupFailed { why })) => {
            error_response(StatusCode::BAD_REQUEST, "bad_address", why)
        }
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}

/// Leaves the ring gracefully: every key goes to the successor first.
#[utoipa::path(post, path = "/api/v1/dht/leave", tag = "dht",
    responses((status = 200, body = LeftBody), (status = 503, body = ErrorBody, description = "not in a ring")))]
pub async fn leave(State(core): State<CoreHandle>) -> Response {
    match core.request::<_, Reply>(&Request::Leave).await {
        Ok(Reply::Left { items_handed_over }) => {
            Json(LeftBody { items_handed_over }).into_response()
        }
        Ok(other) => refusal(other),
        Err(error) => error.into_response(),
    }
}
