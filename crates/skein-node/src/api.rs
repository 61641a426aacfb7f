//! The REST API on `4000 + id` and the metrics endpoint on `3000 + id`.
//!
//! Handlers do not know the protocol's types: requests and statuses cross
//! into the core loop as JSON, where the loop (which knows `P`) converts
//! them. That keeps the OpenAPI document static and the handlers small.

use crate::access::AccessPolicy;
use crate::config::NodeSettings;
use crate::inbound::Inbound;
use crate::metrics::NodeMetrics;
use crate::peers::{PeerStatus, PeerTable};
use crate::service_api::{CallError, CoreHandle, NodeFacts, ServiceApi};
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skein_core::Protocol;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// Request bodies larger than this are refused with 413.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Ports {
    pub metrics: u16,
    pub api: u16,
    pub stream: u16,
    pub datagram: u16,
}

/// What never changes while a node runs.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub id: u16,
    pub service: &'static str,
    pub protocol_id: u16,
    pub protocol_version: u16,
    pub started: Instant,
    pub ports: Ports,
}

impl NodeInfo {
    pub fn new<P: Protocol>(settings: &NodeSettings, started: Instant) -> Self {
        Self {
            id: settings.id.0,
            service: P::NAME,
            protocol_id: P::PROTOCOL_ID,
            protocol_version: P::VERSION,
            started,
            ports: Ports {
                metrics: settings.metrics_port(),
                api: settings.api_port(),
                stream: settings.stream_port(),
                datagram: settings.datagram_port(),
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    pub id: u16,
    pub service: String,
    /// skein's version.
    pub version: String,
    pub uptime_ms: u64,
    pub ports: Ports,
    pub peers: Vec<PeerStatus>,
    /// The service's own status; its shape depends on the service.
    #[schema(value_type = Object)]
    pub protocol: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    pub service: String,
    pub protocol_id: u16,
    /// Nodes with different protocol versions cannot form a cluster.
    pub protocol_version: u16,
    pub envelope_version: u8,
    pub node_version: String,
    pub channels: Vec<String>,
    pub endpoints: Vec<String>,
    /// The node runs with `--allow-fault-injection` (the dashboard shows its fault panel).
    #[serde(default)]
    pub allow_fault_injection: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do next.
    pub error: String,
    /// A stable machine-readable code.
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReplyBody {
    /// The service's reply; its shape depends on the service.
    #[schema(value_type = Object)]
    pub reply: Value,
}

/// A JSON error body with a status: every error the API sends has this shape.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
        code: code.to_string(),
    };
    (status, Json(body)).into_response()
}

#[derive(Clone)]
struct ApiState {
    info: Arc<NodeInfo>,
    peers: PeerTable,
    core: CoreHandle,
    metrics: NodeMetrics,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "skein node API", description = "Status, capabilities and client requests of one skein node."),
    paths(status, capabilities, submit_request),
    components(schemas(StatusResponse, Capabilities, PeerStatus, Ports, ErrorBody, ReplyBody)),
    tags((name = "node", description = "Every node, whatever its service"))
)]
pub struct ApiDoc;

/// This node's identity, uptime, peers and service status.
#[utoipa::path(get, path = "/api/v1/status", tag = "node",
    responses((status = 200, body = StatusResponse), (status = 503, body = ErrorBody, description = "node is stopping")))]
async fn status(State(state): State<ApiState>) -> Result<Json<StatusResponse>, CallError> {
    let protocol = state.core.status().await?;
    let info = &state.info;
    Ok(Json(StatusResponse {
        id: info.id,
        service: info.service.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_ms: info.started.elapsed().as_millis() as u64,
        ports: info.ports.clone(),
        peers: state.peers.snapshot(Instant::now()),
        protocol,
    }))
}

/// The protocol and versions this node speaks, so peers and tools can refuse incompatible nodes.
#[utoipa::path(get, path = "/api/v1/capabilities", tag = "node", responses((status = 200, body = Capabilities)))]
async fn capabilities(State(state): State<ApiState>) -> Json<Capabilities> {
    let info = &state.info;
    Json(Capabilities {
        service: info.service.to_string(),
        protocol_id: info.protocol_id,
        protocol_version: info.protocol_version,
        envelope_version: skein_core::envelope::VERSION,
        node_version: env!("CARGO_PKG_VERSION").to_string(),
        channels: vec!["tcp".into(), "udp".into()],
        endpoints: [
            "/api/v1/status",
            "/api/v1/capabilities",
            "/api/v1/request",
            "/api/v1/fault/partition",
            "/openapi.json",
            "/docs",
        ]
        .map(String::from)
        .to_vec(),
        allow_fault_injection: state.core.node().allow_fault_injection,
    })
}

/// Sends one request to this node's service and waits for its reply.
///
/// The body is a request of the running service in JSON, e.g. for
/// `heartbeat`: `{"Echo":{"text":"hi"}}` or `{"Gossip":{"text":"hello all"}}`.
#[utoipa::path(post, path = "/api/v1/request", tag = "node",
    request_body(content = Object, description = "a request of the running service", content_type = "application/json"),
    responses(
        (status = 200, body = ReplyBody),
        (status = 400, body = ErrorBody, description = "not a request of this service"),
        (status = 413, body = ErrorBody, description = "body over 64 KiB"),
        (status = 503, body = ErrorBody, description = "too many requests in flight, or stopping"),
        (status = 504, body = ErrorBody, description = "no reply within the request timeout"),
    ))]
async fn submit_request(
    State(state): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(rejection) => return json_rejection(&state.metrics, rejection),
    };
    match state.core.request_json(body).await {
        Ok(reply) => {
            state.metrics.request("ok");
            Json(ReplyBody { reply }).into_response()
        }
        Err(CallError::BadRequest(why)) => {
            state.metrics.request("bad_request");
            let message = format!(
                "not a {} request: {why}; see /docs for the request shapes",
                state.info.service
            );
            error_response(StatusCode::BAD_REQUEST, "bad_request", message)
        }
        Err(error) => error.into_response(),
    }
}

/// Turns axum's refusal of a JSON body into our JSON error shape.
pub fn json_rejection(metrics: &NodeMetrics, rejection: JsonRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        metrics.request("too_large");
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {REQUEST_BODY_BYTES_MAX} bytes"),
        );
    }
    metrics.request("bad_request");
    error_response(
        StatusCode::BAD_REQUEST,
        "bad_json",
        format!("the body must be JSON with Content-Type: application/json ({rejection})"),
    )
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /docs",
    )
}

fn api_router(
    state: ApiState,
    service: ServiceApi,
    partition: crate::partition::PartitionApi,
    access: AccessPolicy,
) -> Router {
    let mut document = ApiDoc::openapi();
    document.merge((service.openapi)());
    document.merge(crate::partition::PartitionDoc::openapi());
    let service_routes = (service.routes)(state.core.clone());
    let dashboard = dashboard_config(&state);
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/capabilities", get(capabilities))
        .route("/api/v1/request", post(submit_request))
        .with_state(state)
        .merge(service_routes)
        .merge(crate::partition::routes(partition))
        .merge(crate::dashboard::static_router(dashboard))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            access,
            crate::access::guard,
        ))
        .layer(axum::middleware::from_fn(
            crate::error_bodies::json_error_bodies,
        ))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn(
            crate::dashboard::allow_cross_origin_reads,
        ))
        .layer(axum::middleware::from_fn(
            crate::header_limits::limit_request_head,
        ))
}

/// The page at `/` watches this node and its peers (see [`crate::dashboard`]).
fn dashboard_config(state: &ApiState) -> crate::dashboard::DashboardConfig {
    let info = &state.info;
    let facts = state.core.node();
    crate::dashboard::node_config(
        info.id,
        info.ports.api - info.id,
        info.ports.metrics - info.id,
        facts
            .peer_hosts
            .ids()
            .into_iter()
            .filter_map(|id| Some((id.0, facts.peer_hosts.get(id)?.stream.ip()))),
        info.service,
    )
}

fn metrics_router(metrics: NodeMetrics) -> Router {
    let scrape = move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                metrics.encode(),
            )
        }
    };
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(
            crate::dashboard::allow_cross_origin_reads,
        ))
}

/// Everything the HTTP servers need from the node.
pub struct Servers {
    pub api_listener: TcpListener,
    /// Token and rate limit for state-changing requests.
    pub access: AccessPolicy,
    pub metrics_listener: TcpListener,
    pub info: NodeInfo,
    pub peers: PeerTable,
    pub core: mpsc::Sender<Inbound>,
    pub metrics: NodeMetrics,
    pub request_timeout: Duration,
    pub service: ServiceApi,
    pub node: NodeFacts,
    /// Links cut by fault injection, shared with the core loop.
    pub partition: crate::partition::Partition,
}

impl Servers {
    pub fn spawn(self, shutdown: CancellationToken) {
        let core = CoreHandle::new(
            self.core,
            self.request_timeout,
            self.metrics.clone(),
            self.node,
        );
        let state = ApiState {
            info: Arc::new(self.info),
            peers: self.peers,
            core,
            metrics: self.metrics.clone(),
        };
        let partition = crate::partition::PartitionApi {
            partition: self.partition,
            allow_fault_injection: state.core.node().allow_fault_injection,
            metrics: self.metrics.clone(),
        };
        let router = api_router(state, self.service, partition, self.access);
        // The client's address feeds the per-client rate limit.
        let api = axum::serve(
            self.api_listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let scrape = axum::serve(self.metrics_listener, metrics_router(self.metrics))
            .with_graceful_shutdown(shutdown.cancelled_owned());
        tokio::spawn(async move {
            if let Err(error) = api.await {
                tracing::error!(%error, "REST API server failed");
            }
        });
        tokio::spawn(async move {
            if let Err(error) = scrape.await {
                tracing::error!(%error, "metrics server failed");
            }
        });
    }
}
