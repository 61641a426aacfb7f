//! `cluster up --service dht`: the ring is joined through node 1, and the
//! command waits until it is whole before printing its table.

use crate::cluster::state::ClusterState;
use crate::http::client;
use anyhow::bail;
use serde_json::Value;
use skein_node::PortBases;
use std::time::{Duration, Instant};

/// The `--join ADDR` every node but node 1 gets: node 1's own address.
pub fn join_args(id: u16, bases: PortBases) -> Vec<String> {
    if id == 1 {
        return Vec::new();
    }
    let join = format!("1@127.0.0.1:{}:{}", bases.stream + 1, bases.datagram + 1);
    vec!["--join".into(), join]
}

/// Waits until every node is a member and each one's successor and
/// predecessor are its neighbours in ring-id order.
pub async fn wait_ring(cluster: &ClusterState, timeout: Duration) -> anyhow::Result<()> {
    let http = client(Duration::from_secs(2));
    let deadline = Instant::now() + timeout;
    loop {
        let why = match ring_problem(&http, cluster).await {
            None => return Ok(()),
            Some(why) => why,
        };
        if Instant::now() > deadline {
            bail!("the dht ring did not stabilize within {timeout:?}: {why}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What is still wrong with the ring, if anything.
async fn ring_problem(http: &reqwest::Client, cluster: &ClusterState) -> Option<String> {
    let mut views: Vec<(String, u64, Option<u64>, u64)> = Vec::new();
    for node in &cluster.nodes {
        let url = format!("{}/api/v1/dht/routing", node.api);
        let view: Value = match http.get(&url).send().await {
            Ok(r) => r.json().await.ok()?,
            Err(_) => return Some(format!("node {} does not answer", node.id)),
        };
        if view["state"] != "member" {
            return Some(format!("node {} is {}", node.id, view["state"]));
        }
        let ring = view["node"]["ring"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let succ = view["successors"][0]["id"]
            .as_u64()
            .unwrap_or(u64::from(node.id));
        let pred = view["predecessor"]["id"].as_u64();
        views.push((ring, u64::from(node.id), pred, succ));
    }
    views.sort();
    let n = views.len();
    for (i, (_, id, pred, succ)) in views.iter().enumerate() {
        let next = views[(i + 1) % n].1;
        let prev = views[(i + n - 1) % n].1;
        if n > 1 && (*succ != next || *pred != Some(prev)) {
            return Some(format!(
                "node {id} does not point at its ring neighbours yet"
            ));
        }
    }
    None
}
