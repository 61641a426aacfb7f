//! The dashboard server's routes: the embedded page, its config, a bounded
//! proxy to the nodes, and — for a cluster this machine launched — process
//! faults (kill, pause, resume, restart) through the launcher's own code.
//!
//! The proxy forwards only GETs of known read paths (with a short paging
//! query where one is useful) and the few fault
//! endpoints nodes already guard with `--allow-fault-injection`; replies
//! are capped in size and time. Writes and actions must be JSON requests, so
//! a browser sends them cross-site only after a CORS preflight, which this
//! server never grants: another web page cannot kill your nodes.

use crate::cluster::{self, state::ClusterState};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::json;
use skein_node::dashboard::{page_routes, DashboardConfig, DashboardNode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Paths the page may read through the proxy (after `/proxy/{id}/`).
pub const READ_PATHS: &[&str] = &[
    "api/v1/status",
    "api/v1/capabilities",
    "api/v1/raft/status",
    "api/v1/bft/status",
    "api/v1/bft/byzantine",
    "api/v1/list",
    "api/v1/dht/routing",
    "api/v1/dht/size",
    "api/v1/gossip/peers",
    "api/v1/gossip/messages",
    "metrics",
];
/// Read paths whose query the proxy forwards (paging), if it is short and plain.
pub const QUERY_PATHS: &[&str] = &["api/v1/gossip/messages"];
/// A forwarded query is at most this long, of `[A-Za-z0-9_=&]` only.
pub const QUERY_BYTES_MAX: usize = 64;
/// A beacon's coverage trace: this prefix and a 16-hex-digit message id.
const TRACE_PREFIX: &str = "api/v1/gossip/trace/";
/// Fault endpoints the page may call through the proxy.
pub const WRITE_PATHS: &[(Method, &str)] = &[
    (Method::PUT, "api/v1/bft/byzantine"),
    (Method::POST, "api/v1/bft/corrupt"),
    (Method::PUT, "api/v1/fault/partition"),
];
/// A node's reply larger than this is cut off with 502.
pub const PROXY_REPLY_BYTES_MAX: usize = 4 * 1024 * 1024;
const PROXY_TIMEOUT: Duration = Duration::from_secs(5);
const BODY_BYTES_MAX: usize = 64 * 1024;

/// One node: its API base URL and, once known, its metrics URL.
pub struct Target {
    api: String,
    metrics: Mutex<Option<String>>,
}

impl Target {
    pub fn new(api: String, metrics: Option<String>) -> Self {
        Self {
            api,
            metrics: Mutex::new(metrics),
        }
    }
}

pub struct Targets {
    nodes: BTreeMap<u16, Target>,
    service: Option<String>,
}

impl Targets {
    pub fn new(nodes: BTreeMap<u16, Target>, service: Option<String>) -> Self {
        Self { nodes, service }
    }
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[derive(Clone)]
struct AppState {
    targets: Arc<Targets>,
    /// The launcher's directory: process actions are offered only with it.
    dir: Option<PathBuf>,
    http: reqwest::Client,
    interval_ms: u64,
    /// One process action at a time: they read and write `cluster.json`.
    actions: Arc<tokio::sync::Mutex<()>>,
}

pub fn router(targets: Targets, dir: Option<PathBuf>, interval_ms: u64) -> Router {
    let state = AppState {
        targets: Arc::new(targets),
        dir,
        http: crate::http::client(PROXY_TIMEOUT),
        interval_ms,
        actions: Arc::default(),
    };
    page_routes()
        .route("/dashboard/config.json", get(config))
        .route("/dashboard/cluster", get(cluster_state))
        .route("/dashboard/action/{id}/{action}", post(action))
        .route("/proxy/{id}/{*path}", any(proxy))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn config(State(state): State<AppState>) -> Json<DashboardConfig> {
    let nodes = state
        .targets
        .nodes
        .keys()
        .map(|&id| DashboardNode {
            id,
            // Relative: the page works behind any prefix or host name.
            api: format!("proxy/{id}"),
            metrics: format!("proxy/{id}/metrics"),
        })
        .collect();
    Json(DashboardConfig {
        nodes,
        interval_ms: state.interval_ms,
        launcher: state.dir.is_some(),
        service: state.targets.service.clone(),
    })
}

/// What the launcher recorded about each node (running, paused, killed, stopped).
async fn cluster_state(State(state): State<AppState>) -> Response {
    let Some(dir) = &state.dir else {
        return error(StatusCode::NOT_FOUND, "not serving a launcher's cluster");
    };
    match ClusterState::load(dir) {
        Ok(cluster) => Json(json!({
            "service": cluster.service,
            "nodes": cluster.nodes.iter().map(|n| json!({
                "id": n.id, "state": n.state, "pid": n.pid,
                "fault_injection": fault_injection_allowed(&n.args),
            })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")),
    }
}

fn fault_injection_allowed(node_args: &[String]) -> bool {
    node_args.iter().any(|a| a == "--allow-fault-injection")
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `POST /dashboard/action/{id}/{kill|pause|resume|restart}` with a JSON body.
async fn action(
    State(state): State<AppState>,
    Path((id, action)): Path<(u16, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(dir) = state.dir.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "process actions need a launcher's cluster: run `skein dashboard --dir DIR`",
        );
    };
    if !is_json(&headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        );
    }
    let allowed = ClusterState::load(&dir).ok().and_then(|c| {
        c.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| fault_injection_allowed(&n.args))
    });
    match allowed {
        None => return error(StatusCode::NOT_FOUND, format!("no node {id} in the cluster at {}", dir.display())),
        Some(false) => return error(StatusCode::FORBIDDEN, "this cluster runs without fault injection; start it with `skein cluster up --allow-fault-injection`"),
        Some(true) => {}
    }
    let _one_at_a_time = state.actions.lock().await;
    // The launcher's code blocks (signals, waiting for a restarted node): a thread of its own.
    let (reply, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = reply.send(cluster::act_by_name(&dir, id, &action).map_err(|e| format!("{e:#}")));
    });
    match result.await {
        Ok(Ok(message)) => Json(json!({ "message": message })).into_response(),
        Ok(Err(message)) => {
            (StatusCode::CONFLICT, Json(json!({ "message": message }))).into_response()
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the action's thread ended without a reply",
        ),
    }
}

/// `/proxy/{id}/{path}`: forwards an allowed read or fault call to node `id`.
async fn proxy(
    State(state): State<AppState>,
    Path((id, path)): Path<(u16, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(target) = state.targets.nodes.get(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no node {id} on this dashboard"),
        );
    };
    let read = matches!(method, Method::GET | Method::HEAD) && readable(&path);
    let write = WRITE_PATHS.iter().any(|(m, p)| *m == method && *p == path);
    if !read && !write {
        return error(
            StatusCode::FORBIDDEN,
            format!("the dashboard does not forward {method} {path}"),
        );
    }
    if write && !is_json(&headers) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        );
    }
    let url = if path == "metrics" {
        match metrics_url(&state.http, target).await {
            Ok(url) => url,
            Err(why) => return error(StatusCode::BAD_GATEWAY, why),
        }
    } else {
        let query = query
            .filter(|q| read && QUERY_PATHS.contains(&path.as_str()) && plain_query(q))
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!("{}/{path}{query}", target.api)
    };
    let mut request = state.http.request(method, &url);
    if write {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    match request.send().await {
        Ok(reply) => relay(reply).await,
        Err(e) if e.is_timeout() => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!("node {id} did not answer within {PROXY_TIMEOUT:?}"),
        ),
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            format!("node {id} is unreachable: {e}"),
        ),
    }
}

fn readable(path: &str) -> bool {
    READ_PATHS.contains(&path)
        || path
            .strip_prefix(TRACE_PREFIX)
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn plain_query(query: &str) -> bool {
    query.len() <= QUERY_BYTES_MAX
        && query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'=' | b'&'))
}

/// Copies a node's reply (status, content type, body up to the cap).
async fn relay(mut reply: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(reply.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = reply.headers().get(header::CONTENT_TYPE).cloned();
    let mut body = Vec::new();
    loop {
        match reply.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= PROXY_REPLY_BYTES_MAX => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!("the node's reply is over {PROXY_REPLY_BYTES_MAX} bytes"),
                )
            }
            Ok(None) => break,
            Err(e) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    format!("the node's reply broke off: {e}"),
                )
            }
        }
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// The node's metrics URL: recorded by the launcher, or learned once from
/// its status (`ports.metrics`, on the API's host).
async fn metrics_url(http: &reqwest::Client, target: &Target) -> Result<String, String> {
    if let Some(url) = target.metrics.lock().expect("metrics url lock").clone() {
        return Ok(url);
    }
    let status = crate::http::fetch_status(http, &target.api)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut url: reqwest::Url = target
        .api
        .parse()
        .map_err(|_| format!("bad API URL {}", target.api))?;
    url.set_port(Some(status.ports.metrics))
        .map_err(|_| "cannot set the metrics port".to_string())?;
    url.set_path("/metrics");
    let url = url.to_string();
    *target.metrics.lock().expect("metrics url lock") = Some(url.clone());
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_reads_and_well_formed_traces_are_readable() {
        assert!(readable("api/v1/gossip/messages"));
        assert!(readable("api/v1/gossip/trace/00ff00ff00ff00ff"));
        for refused in [
            "api/v1/gossip/trace/",
            "api/v1/gossip/trace/00ff00ff00ff00f",
            "api/v1/gossip/trace/00ff00ff00ff00ffa",
            "api/v1/gossip/trace/../../api/v1/xx",
            "api/v1/gossip/broadcast",
        ] {
            assert!(!readable(refused), "{refused}");
        }
    }

    #[test]
    fn a_forwarded_query_is_short_and_plain() {
        assert!(plain_query("after=12&limit=32"));
        assert!(!plain_query("after=1&x=%2F"));
        assert!(!plain_query("a=b#c"));
        assert!(!plain_query(&"a".repeat(QUERY_BYTES_MAX + 1)));
    }
}
