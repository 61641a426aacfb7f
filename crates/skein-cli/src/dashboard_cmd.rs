//! `skein dashboard`: serves the dashboard page for any cluster, proxying
//! the page's reads (and, for a launcher's cluster, its fault actions) to
//! the nodes, so the page needs no CORS and works against nodes anywhere.

use crate::cli::UsageError;
use crate::cluster::state::ClusterState;
use crate::dashboard_server::{router, Target, Targets};
use crate::http::block_on;
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where `skein dashboard` and `skein cluster up` serve the page (plus the port offset).
pub const DEFAULT_PORT: u16 = 8000;

#[derive(Args, Debug)]
pub struct DashboardArgs {
    /// The nodes' REST API base URLs, comma-separated (e.g.
    /// http://10.0.0.1:4001,http://10.0.0.2:4002); the page calls them node
    /// 1, 2, … in this order. Without it, the nodes of the cluster in --dir.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// The port to serve the page on.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// The address to serve on; the dashboard can kill nodes, keep it on loopback.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// A `skein cluster up` directory (used when --nodes is not given): watch
    /// its nodes, and let the page kill, pause, resume and restart them (when
    /// the cluster was started with --allow-fault-injection).
    #[arg(long, env = "SKEIN_CLUSTER_DIR")]
    pub dir: Option<PathBuf>,
    /// How often the page polls the nodes at first (it has a selector).
    #[arg(long, default_value_t = skein_node::dashboard::DEFAULT_INTERVAL_MS, value_parser = clap::value_parser!(u64).range(200..=60_000))]
    pub interval_ms: u64,
}

pub fn run(args: DashboardArgs) -> anyhow::Result<()> {
    let (targets, dir) = targets(&args)?;
    let address = SocketAddr::new(args.bind, args.port);
    block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot serve the dashboard on {address}"))?;
        println!("dashboard: http://{address}/ ({} nodes)", targets.len());
        let app = router(targets, dir, args.interval_ms);
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the dashboard server failed")
    })
}

/// The nodes to watch: --nodes, or the cluster in --dir (whose launcher
/// actions the page may then use).
fn targets(args: &DashboardArgs) -> anyhow::Result<(Targets, Option<PathBuf>)> {
    if !args.nodes.is_empty() {
        if args.nodes.len() > skein_node::dashboard::NODES_MAX {
            return Err(UsageError(format!(
                "--nodes lists {} nodes; a dashboard watches at most {}",
                args.nodes.len(),
                skein_node::dashboard::NODES_MAX
            ))
            .into());
        }
        let mut targets = BTreeMap::new();
        for (i, url) in args.nodes.iter().enumerate() {
            let url = url.trim().trim_end_matches('/');
            let parsed: reqwest::Url = url.parse().map_err(|_| {
                UsageError(format!(
                    "--nodes {url:?}: expected an API base URL like http://127.0.0.1:4001"
                ))
            })?;
            if parsed.scheme() != "http" && parsed.scheme() != "https" {
                return Err(UsageError(format!("--nodes {url:?}: not an http URL")).into());
            }
            targets.insert(i as u16 + 1, Target::new(url.to_string(), None));
        }
        // Ids are positions here, not a launcher's: no process actions.
        return Ok((Targets::new(targets, None), None));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::cluster::DEFAULT_DIR));
    Ok((targets_of_cluster(&dir)?, Some(dir)))
}

/// Every node of the cluster in `dir`, with the metrics URL it recorded.
pub fn targets_of_cluster(dir: &Path) -> anyhow::Result<Targets> {
    let cluster = ClusterState::load(dir)
        .map_err(|e| UsageError(format!("{e:#}; or name the nodes with --nodes")))?;
    let nodes = cluster
        .nodes
        .iter()
        .map(|n| (n.id, Target::new(n.api.clone(), Some(n.metrics.clone()))))
        .collect();
    Ok(Targets::new(nodes, Some(cluster.service.clone())))
}
