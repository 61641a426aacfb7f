//! What the raft process tests share: a raft cluster as a user starts it,
//! polling for a leader and for applied indexes, and a client that follows
//! redirects.

use super::Cluster;
use reqwest::Method;
use serde_json::{json, Value};
use skein_cli::http::{block_on, client};
use skein_cli::leader_http::LeaderClient;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A deadline for convergence, not a performance claim: generous for slow CI.
pub const CONVERGE_WITHIN: Duration = Duration::from_secs(30);

impl Cluster {
    /// `skein cluster up --service raft --nodes N`, as a user would start it.
    pub fn raft(dir: &Path, nodes: u16, port_offset: u16) -> Cluster {
        Cluster::raft_with(dir, nodes, port_offset, &[])
    }

    /// As [`Cluster::raft`], with more flags for every node (e.g. `--set KEY=VALUE`).
    pub fn raft_with(dir: &Path, nodes: u16, port_offset: u16, node_flags: &[&str]) -> Cluster {
        let mut flags = vec!["--request-timeout-ms", "3000"];
        flags.extend(node_flags);
        Cluster::start(dir, "raft", nodes, port_offset, &[], &flags)
    }

    /// Node `id`'s Prometheus text from `/metrics` (port `3000 + offset + id`).
    pub fn metrics(&self, id: u16) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.api_base - 1000 + id);
        let http = client(Duration::from_secs(2));
        block_on(async { http.get(url).send().await?.text().await }).expect("metrics answer")
    }

    pub fn all_apis(&self) -> String {
        let apis: Vec<String> = (1..=self.nodes).map(|id| self.api(id)).collect();
        apis.join(",")
    }

    pub fn raft_status(&self, id: u16) -> Option<Value> {
        let http = client(Duration::from_millis(500));
        block_on(async {
            let response = http
                .get(format!("{}/api/v1/raft/status", self.api(id)))
                .send()
                .await
                .ok()?;
            response.json::<Value>().await.ok()
        })
    }

    /// Polls until every listed node names the same leader, which says it leads.
    pub fn leader(&self, ids: &[u16]) -> u16 {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        loop {
            let statuses: Vec<Option<Value>> = ids.iter().map(|&id| self.raft_status(id)).collect();
            let leaders: Vec<Option<u64>> = statuses
                .iter()
                .map(|s| s.as_ref().and_then(|s| s["leader"].as_u64()))
                .collect();
            if let Some(Some(leader)) = leaders.first() {
                let agreed = leaders.iter().all(|l| *l == Some(*leader));
                let leads = ids
                    .iter()
                    .position(|&id| u64::from(id) == *leader)
                    .and_then(|at| statuses[at].as_ref())
                    .is_some_and(|s| s["role"] == "Leader");
                if agreed && leads {
                    return *leader as u16;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader among {ids:?} within {CONVERGE_WITHIN:?}: {statuses:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls until node `id` has applied at least `index`.
    pub fn wait_applied(&self, id: u16, index: u64) {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        loop {
            let status = self.raft_status(id);
            if status
                .as_ref()
                .and_then(|s| s["applied_index"].as_u64())
                .is_some_and(|a| a >= index)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} did not apply index {index}: {status:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn client(&self, apis: &str) -> LeaderClient {
        LeaderClient::new(apis, Duration::from_secs(5)).unwrap()
    }
}

pub fn put(client: &LeaderClient, key: &str, value: &str) -> Value {
    let answer = block_on(client.call(
        Method::PUT,
        &format!("/api/v1/kv/{key}"),
        Some(&json!({ "value": value })),
        None,
    ))
    .unwrap();
    assert_eq!(answer.status, 200, "put {key}: {answer:?}");
    answer.body
}

/// Every key under `prefix`, paging through the list endpoint.
pub fn list_all(client: &LeaderClient, prefix: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/kv?prefix={prefix}&limit=1000");
        if let Some(after) = &after {
            path.push_str(&format!("&start_after={after}"));
        }
        let answer = block_on(client.call(Method::GET, &path, None, None)).unwrap();
        assert_eq!(answer.status, 200, "list: {answer:?}");
        items.extend(answer.body["items"].as_array().unwrap().iter().cloned());
        after = answer.body["next_start_after"].as_str().map(String::from);
        if after.is_none() {
            return items;
        }
    }
    panic!("more than 100 pages under {prefix}");
}

pub fn wait_for(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the background writer if the test panics before it is told to.
pub struct StopOnDrop(pub Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A `skein node` started outside `cluster up` (e.g. a node joining at run
/// time); killed on drop. Its log goes to `DIR/node-ID.out`.
pub struct NodeProcess {
    pub id: u16,
    child: std::process::Child,
}

impl NodeProcess {
    pub fn start(dir: &Path, id: u16, args: &[&str]) -> NodeProcess {
        let log = std::fs::File::create(dir.join(format!("node-{id}.out"))).expect("a log file");
        let mut command = std::process::Command::new(super::SKEIN);
        command.args(["node", "--id", &id.to_string()]).args(args);
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SKEIN_")) {
            command.env_remove(name);
        }
        let child = command
            .stdout(log.try_clone().expect("a second handle"))
            .stderr(log)
            .spawn()
            .expect("skein node starts");
        NodeProcess { id, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample `name` (exact, labels included) in Prometheus text.
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}
