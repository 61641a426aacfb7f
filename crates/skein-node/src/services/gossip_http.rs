//! The `gossip` service's REST API: broadcast, recent messages, peers,
//! leave, and a beacon's coverage trace, beside the endpoints every node has.
//!
//! Handlers call the gossip core through the [`CoreHandle`] with typed
//! `skein_gossip::GossipRequest`s; a core refusal (`GossipReply::Error`)
//! becomes a 4xx JSON error with its reason. Metrics are in
//! [`super::gossip_metrics`]; the setting names
//! (`SKEIN_NETWORK_SYNC_INTERVAL`, `SKEIN_NETWORK_SYNC_JITTER`) in [`prepare`].

use crate::api::error_response;
use crate::config::{ConfigError, NodeSettings};
use crate::service_api::{CallError, CoreHandle, ServiceApi};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use skein_gossip::api::PAGE_MAX;
use skein_gossip::config::PAYLOAD_BYTES_CEILING;
use skein_gossip::{GossipReply, GossipRequest};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// A broadcast body holds at most the payload ceiling, escaped as JSON.
pub const BROADCAST_BODY_BYTES_MAX: usize = 6 * PAYLOAD_BYTES_CEILING + 1024;

/// The original's environment names for two gossip settings, read below
/// `SKEIN_GOSSIP_<KEY>` and `--set` (which name the same settings).
pub const ENV_ALIASES: [(&str, &str); 2] = [
    ("SKEIN_NETWORK_SYNC_INTERVAL", "network_sync_interval"),
    ("SKEIN_NETWORK_SYNC_JITTER", "network_sync_jitter"),
];

pub fn api() -> ServiceApi {
    ServiceApi {
        routes,
        openapi: GossipDoc::openapi,
    }
}

/// Fills gossip settings from the original's environment names, unless a
/// `[gossip]` key, `SKEIN_GOSSIP_<KEY>` or `--set` already gave them.
pub fn prepare(settings: &mut NodeSettings) -> Result<(), ConfigError> {
    for (variable, key) in ENV_ALIASES {
        if settings.service_config.contains_key(key) {
            continue;
        }
        if let Ok(value) = std::env::var(variable) {
            settings.set_service_values(variable, [(key, value.as_str())])?;
        }
    }
    Ok(())
}

fn routes(core: CoreHandle) -> Router {
    super::gossip_metrics::spawn_sampler(core.clone());
    super::gossip_pow::spawn_solver(core.clone());
    Router::new()
        .route("/api/v1/gossip/broadcast", post(broadcast))
        .route("/api/v1/gossip/messages", get(messages))
        .route("/api/v1/gossip/peers", get(peers))
        .route("/api/v1/gossip/leave", post(leave))
        .route("/api/v1/gossip/trace/{id}", get(trace))
        .layer(DefaultBodyLimit::max(BROADCAST_BODY_BYTES_MAX))
        .with_state(core)
}

#[derive(OpenApi)]
#[openapi(
    paths(broadcast, messages, peers, leave, trace),
    components(schemas(BroadcastBody, BroadcastedBody, MessagesBody, MessageBody, PeersBody, PeerBody, LeftBody, TraceBody)),
    tags((name = "gossip", description = "The gossip service: a peer-to-peer overlay with signed identities, \
        SWIM membership and Plumtree broadcast. Limits: payload ≤ payload_bytes_max (16 KiB by default), \
        message pages ≤ 256."))
)]
struct GossipDoc;

#[derive(Debug, Deserialize, ToSchema)]
pub struct BroadcastBody {
    /// UTF-8 text delivered to every live node exactly once.
    pub payload: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BroadcastedBody {
    /// The message id (16 hex digits), for `/api/v1/gossip/trace/{id}` on a beacon.
    pub id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageBody {
    pub seq: u64,
    pub id: String,
    pub origin: u16,
    pub payload: String,
    pub hops: u16,
    /// When this node delivered it, ms after it started.
    pub delivered_ms: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagesBody {
    pub messages: Vec<MessageBody>,
    /// Pass as `after` for the next page.
    pub next_after: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerBody {
    pub id: u16,
    /// sha256 of the peer's public key, first 8 bytes in hex.
    pub key_id: String,
    /// alive, suspect, dead or left.
    pub state: String,
    pub incarnation: u64,
    pub address: String,
    pub last_heard_ms_ago: u64,
    pub beacon: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PeersBody {
    pub peers: Vec<PeerBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LeftBody {
    /// Live members told of the departure.
    pub told: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TraceBody {
    pub id: String,
    pub nodes: usize,
    /// `[node, ms after the first report, hops]`, earliest first.
    pub reports: Vec<(u16, u64, u16)>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Return messages with a sequence number above this (default 0).
    pub after: Option<u64>,
    /// At most this many (1 to 256, default 100).
    pub limit: Option<usize>,
}

async fn call(core: &CoreHandle, request: GossipRequest) -> Result<GossipReply, Response> {
    let reply = core
        .request(&request)
        .await
        .map_err(IntoResponse::into_response)?;
    match reply {
        GossipReply::Error { code, error } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            let name = match code {
                413 => "too_large",
                404 => "not_found",
                409 => "conflict",
                503 => "starting",
                _ => "bad_request",
            };
            Err(error_response(status, name, error))
        }
        other => Ok(other),
    }
}

fn unexpected(reply: GossipReply) -> Response {
    CallError::BadReply(format!("{reply:?}")).into_response()
}

/// Broadcast a text to every live node.
#[utoipa::path(post, path = "/api/v1/gossip/broadcast", tag = "gossip", request_body = BroadcastBody,
    responses((status = 200, body = BroadcastedBody), (status = 400, description = "unreadable body"),
              (status = 413, description = "payload over payload_bytes_max"), (status = 409, description = "the node left")))]
async fn broadcast(
    State(core): State<CoreHandle>,
    body: Result<Json<BroadcastBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_body"
            };
            return error_response(status, code, rejection.body_text());
        }
    };
    match call(
        &core,
        GossipRequest::Broadcast {
            payload: body.payload,
        },
    )
    .await
    {
        Ok(GossipReply::Broadcasted { id }) => Json(BroadcastedBody { id }).into_response(),
        Ok(other) => unexpected(other),
        Err(response) => response,
    }
}

/// Messages this node delivered, oldest first, paged by sequence number.
#[utoipa::path(get, path = "/api/v1/gossip/messages", tag = "gossip", params(PageQuery),
    responses((status = 200, body = MessagesBody)))]
async fn messages(State(core): State<CoreHandle>, Query(page): Query<PageQuery>) -> Response {
    let request = GossipRequest::Messages {
        after: page.after.unwrap_or(0),
        limit: page.limit.unwrap_or(100).clamp(1, PAGE_MAX),
    };
    match call(&core, request).await {
        Ok(reply @ GossipReply::Messages { .. }) => Json(reply_fields(&reply)).into_response(),
        Ok(other) => unexpected(other),
        Err(response) => response,
    }
}

/// Every member this node knows, with its state, incarnation and when it was last heard.
#[utoipa::path(get, path = "/api/v1/gossip/peers", tag = "gossip", responses((status = 200, body = PeersBody)))]
async fn peers(State(core): State<CoreHandle>) -> Response {
    match call(&core, GossipRequest::Peers).await {
        Ok(reply @ GossipReply::Peers { .. }) => Json(reply_fields(&reply)).into_response(),
        Ok(other) => unexpected(other),
        Err(response) => response,
    }
}

/// Leave the overlay: every live member is told, then the node goes quiet.
#[utoipa::path(post, path = "/api/v1/gossip/leave", tag = "gossip", responses((status = 200, body = LeftBody)))]
async fn leave(State(core): State<CoreHandle>) -> Response {
    match call(&core, GossipRequest::Leave).await {
        Ok(GossipReply::Left { told }) => Json(LeftBody { told }).into_response(),
        Ok(other) => unexpected(other),
        Err(response) => response,
    }
}

/// On a beacon: which nodes delivered message `id`, when and after how many hops.
#[utoipa::path(get, path = "/api/v1/gossip/trace/{id}", tag = "gossip",
    params(("id" = String, Path, description = "message id, 16 hex digits")),
    responses((status = 200, body = TraceBody), (status = 400, description = "not a message id"),
              (status = 404, description = "no reports of it"), (status = 409, description = "not a beacon")))]
async fn trace(State(core): State<CoreHandle>, Path(id): Path<String>) -> Response {
    match call(&core, GossipRequest::Trace { id }).await {
        Ok(GossipReply::Trace(view)) => Json(view).into_response(),
        Ok(other) => unexpected(other),
        Err(response) => response,
    }
}

/// The reply's fields without its `result` tag.
fn reply_fields(reply: &GossipReply) -> serde_json::Value {
    let mut value = serde_json::to_value(reply).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("result");
    }
    value
}
