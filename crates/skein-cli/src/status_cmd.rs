//! `skein status`: a readable table of one node's peers, or of every node.

use crate::cluster::state::{ClusterState, NodeState};
use crate::cluster::DEFAULT_DIR;
use crate::http::{block_on, client, fetch_status};
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use skein_node::api::StatusResponse;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Show every node of the cluster in DIR instead of one node.
    #[arg(long)]
    pub cluster: bool,
    /// The node to ask (without --cluster).
    #[arg(long, default_value = "http://127.0.0.1:4001", env = "SKEIN_API")]
    pub api: String,
    /// The cluster's directory (with --cluster).
    #[arg(long, default_value = DEFAULT_DIR, env = "SKEIN_CLUSTER_DIR")]
    pub dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Ask the node that this environment's `SKEIN_*` variables configure
    /// (`skein node` with no flags), on 127.0.0.1: the health check of a
    /// container, whose nodes' API ports differ by id. Exits 1 if it does not answer.
    #[arg(long, conflicts_with_all = ["cluster", "api"])]
    pub this_node: bool,
}

/// The node `skein node` would run with only this environment.
#[derive(clap::Parser)]
struct NodeFromEnvironment {
    #[command(flatten)]
    node: crate::node_cmd::NodeArgs,
}

fn this_node_api() -> anyhow::Result<String> {
    use clap::Parser;
    let parsed = NodeFromEnvironment::try_parse_from(["skein-node"])?;
    let settings = parsed.node.settings()?;
    Ok(format!("http://127.0.0.1:{}", settings.api_port()))
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let http = client(Duration::from_secs(2));
    if !args.cluster {
        let api = match args.this_node {
            true => this_node_api()?,
            false => args.api.trim_end_matches('/').to_string(),
        };
        let status = block_on(fetch_status(&http, &api))?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
            return Ok(());
        }
        println!(
            "node {} · {} · skein {} · up {}",
            status.id,
            status.service,
            status.version,
            human_ms(status.uptime_ms)
        );
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header([
            "peer",
            "address",
            "state",
            "last seen",
        ]);
        for peer in &status.peers {
            let seen = peer
                .last_seen_ms_ago
                .map_or("never".to_string(), |ms| format!("{} ago", human_ms(ms)));
            table.add_row([
                peer.id.to_string(),
                peer.address.clone(),
                up_down(peer.up).into(),
                seen,
            ]);
        }
        println!("{table}");
        return Ok(());
    }
    let cluster = ClusterState::load(&args.dir)?;
    let statuses: Vec<Option<StatusResponse>> = block_on(async {
        let mut out = Vec::new();
        for node in &cluster.nodes {
            out.push(fetch_status(&http, &node.api).await.ok());
        }
        out
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
        return Ok(());
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["node", "state", "service", "uptime", "peers up", "API"]);
    for (node, status) in cluster.nodes.iter().zip(&statuses) {
        let state = match (status, node.state) {
            (Some(_), _) => "up",
            (None, NodeState::Paused) => "paused",
            (None, NodeState::Killed) => "killed",
            (None, NodeState::Stopped) => "stopped",
            (None, NodeState::Running) => "down",
        };
        let (uptime, peers) = match status {
            Some(s) => (
                human_ms(s.uptime_ms),
                format!(
                    "{}/{}",
                    s.peers.iter().filter(|p| p.up).count(),
                    s.peers.len()
                ),
            ),
            None => ("-".into(), "-".into()),
        };
        table.add_row([
            node.id.to_string(),
            state.into(),
            cluster.service.clone(),
            uptime,
            peers,
            node.api.clone(),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn up_down(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

fn human_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}
