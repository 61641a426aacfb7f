//! `DIR/cluster.json`: what `cluster up` started, so that later commands
//! (`down`, `kill`, `restart`, `status --cluster`) can find every node.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "cluster.json";

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Running,
    Paused,
    Killed,
    Stopped,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: u16,
    pub pid: u32,
    pub state: NodeState,
    /// Arguments after the executable, reused by `restart`.
    pub args: Vec<String>,
    pub api: String,
    pub metrics: String,
    pub log: PathBuf,
}

/// The dashboard `cluster up --detach` left running in the background.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DashboardRecord {
    pub pid: u32,
    pub url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterState {
    pub service: String,
    pub executable: PathBuf,
    pub nodes: Vec<NodeRecord>,
    /// Absent in state files from before the dashboard, and when it runs in
    /// the attached launcher (which stops it itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<DashboardRecord>,
}

impl ClusterState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no cluster found at {} (start one with `skein cluster up --dir {}`)",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a cluster state file", path.display()))
    }

    /// Writes atomically, so a concurrent reader never sees half a file.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        let next = dir.join(format!("{STATE_FILE}.next"));
        std::fs::write(&next, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", next.display()))?;
        std::fs::rename(&next, &path).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn node_mut(&mut self, id: u16) -> anyhow::Result<&mut NodeRecord> {
        let ids: Vec<u16> = self.nodes.iter().map(|n| n.id).collect();
        self.nodes.iter_mut().find(|n| n.id == id).ok_or_else(|| {
            crate::cli::UsageError(format!("no node {id} in this cluster (nodes: {ids:?})")).into()
        })
    }
}
