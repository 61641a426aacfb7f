//! The dashboard page: plain HTML/CSS/JS embedded in the binary (no CDN, no
//! build step), served at `/` by every node's API and by `skein dashboard`.
//!
//! The page learns what to watch from `dashboard/config.json` (relative to
//! where it was loaded) and then reads only the nodes' public endpoints. A
//! node lists itself and its peers with their real URLs, so a browser reads
//! them cross-origin: [`allow_cross_origin_reads`] lets it, for GETs only —
//! writes (fault injection) from a browser go through `skein dashboard`,
//! which proxies them, so no node ever accepts a cross-site write.

use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const VIEW_JS: &str = include_str!("assets/view.js");
pub const PANELS_JS: &str = include_str!("assets/panels.js");
pub const FAULTS_JS: &str = include_str!("assets/faults.js");
pub const LOGIC_JS: &str = include_str!("assets/logic.js");
pub const STYLE_CSS: &str = include_str!("assets/style.css");
/// The unit tests of `logic.js`, run with `node --test` by `tests/dashboard_js.rs`.
pub const LOGIC_TEST_JS: &str = include_str!("assets/logic.test.js");

/// Polling interval the page starts with (the user can change it on the page).
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// A page watches at most this many nodes: bounds the browser's polling.
pub const NODES_MAX: usize = 99;

/// One node the page polls: its API base URL and its metrics URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DashboardNode {
    pub id: u16,
    /// Base URL of the node's REST API, without a trailing slash.
    pub api: String,
    /// Full URL of the node's Prometheus metrics.
    pub metrics: String,
}

/// `dashboard/config.json`: what the page watches and what it may do.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DashboardConfig {
    pub nodes: Vec<DashboardNode>,
    pub interval_ms: u64,
    /// True when served by a launcher that can kill/pause/resume/restart
    /// processes (`dashboard/action/{id}/{action}`, `dashboard/cluster`).
    pub launcher: bool,
    /// The service the nodes were started with, if the server knows it.
    pub service: Option<String>,
}

/// Content type of an embedded asset by name, or None if there is no such asset.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "view.js" => ("text/javascript; charset=utf-8", VIEW_JS),
        "panels.js" => ("text/javascript; charset=utf-8", PANELS_JS),
        "faults.js" => ("text/javascript; charset=utf-8", FAULTS_JS),
        "logic.js" => ("text/javascript; charset=utf-8", LOGIC_JS),
        "style.css" => ("text/css; charset=utf-8", STYLE_CSS),
        _ => return None,
    })
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn serve_asset(Path(name): Path<String>) -> Response {
    match asset(&name) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `/` and `/assets/{name}`: the page itself, for any server to merge.
pub fn page_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(serve_asset))
}

/// The page plus a fixed `dashboard/config.json`: what a node serves.
pub fn static_router<S: Clone + Send + Sync + 'static>(config: DashboardConfig) -> Router<S> {
    page_routes().route(
        "/dashboard/config.json",
        get(move || {
            let config = config.clone();
            async move { Json(config) }
        }),
    )
}

/// What a node's page watches: itself and every peer, at the peers' hosts
/// with this node's port bases (how `skein cluster up` lays nodes out).
pub fn node_config(
    me: u16,
    api_base: u16,
    metrics_base: u16,
    hosts: impl IntoIterator<Item = (u16, std::net::IpAddr)>,
    service: &str,
) -> DashboardConfig {
    let mut nodes: Vec<DashboardNode> = hosts
        .into_iter()
        .chain([(me, std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))])
        .filter_map(|(id, host)| {
            let api = std::net::SocketAddr::new(host, api_base.checked_add(id)?);
            let metrics = std::net::SocketAddr::new(host, metrics_base.checked_add(id)?);
            Some(DashboardNode {
                id,
                api: format!("http://{api}"),
                metrics: format!("http://{metrics}/metrics"),
            })
        })
        .collect();
    nodes.sort_by_key(|n| n.id);
    nodes.dedup_by_key(|n| n.id);
    nodes.truncate(NODES_MAX);
    DashboardConfig {
        nodes,
        interval_ms: DEFAULT_INTERVAL_MS,
        launcher: false,
        service: Some(service.to_string()),
    }
}

/// Middleware: `Access-Control-Allow-Origin: *` on GET/HEAD responses, so a
/// dashboard loaded from one node can read its peers' status and metrics.
/// Only reads: other methods get no CORS header, so a browser refuses to
/// send them cross-origin (the preflight fails).
pub async fn allow_cross_origin_reads(request: Request, next: Next) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let mut response = next.run(request).await;
    if read {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn every_script_and_stylesheet_the_page_links_is_embedded() {
        for name in [
            "app.js",
            "view.js",
            "panels.js",
            "faults.js",
            "logic.js",
            "style.css",
        ] {
            assert!(
                INDEX_HTML.contains(&format!("assets/{name}")),
                "index.html does not link {name}"
            );
            assert!(asset(name).is_some(), "{name} is linked but not served");
        }
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("logic.test.js").is_none(), "tests are not served");
    }

    #[test]
    fn a_node_lists_itself_and_its_peers_in_id_order() {
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
        let c = node_config(2, 4000, 3000, [(3, peer), (1, peer)], "raft");
        let ids: Vec<u16> = c.nodes.iter().map(|n| n.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(c.nodes[1].api, "http://127.0.0.1:4002");
        assert_eq!(c.nodes[2].metrics, "http://10.0.0.3:3003/metrics");
        assert!(!c.launcher);
    }

    #[test]
    fn ports_past_the_end_are_left_out() {
        let c = node_config(1, 65530, 3000, [(9, IpAddr::V4(Ipv4Addr::LOCALHOST))], "x");
        assert_eq!(c.nodes.iter().map(|n| n.id).collect::<Vec<_>>(), [1]);
    }
}
