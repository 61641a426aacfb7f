//! Which bftlist replicas a `skein list` command talks to, and how it signs.

use crate::cli::UsageError;
use crate::client_auth::{signer, Signer};
use crate::cluster::state::ClusterState;
use crate::cluster::DEFAULT_DIR;
use clap::Args;
use std::path::PathBuf;

/// Which replicas to talk to: `--api` URLs, or `--nodes` on loopback, or the cluster in `--dir`.
#[derive(Args, Debug)]
pub struct Target {
    /// A replica's REST API (repeat for every replica of the cluster).
    #[arg(long = "api", global = true)]
    pub apis: Vec<String>,
    /// Replicas 1..=N on 127.0.0.1 (API port 4000 + offset + id), instead of `--dir`.
    #[arg(long, global = true)]
    pub nodes: Option<u16>,
    /// With `--nodes`: the cluster's port offset.
    #[arg(long, default_value_t = 0, global = true)]
    pub port_offset: u16,
    /// The cluster directory of `skein cluster up` (its cluster.json lists the replicas).
    #[arg(long, default_value = DEFAULT_DIR, env = "SKEIN_CLUSTER_DIR", global = true)]
    pub dir: PathBuf,
    /// Byzantine replicas tolerated [default: the largest f with n ≥ 5f+1].
    #[arg(long, global = true)]
    pub f: Option<usize>,
    /// This client's id (0..clients_max of the cluster).
    #[arg(long, default_value_t = 0, global = true)]
    pub client: u32,
    /// This client's own key (64 hex digits, from `skein list key`), to sign
    /// requests without holding the cluster secret.
    #[arg(long, env = "SKEIN_CLIENT_KEY", global = true, hide_env_values = true)]
    pub client_key: Option<String>,
    /// The cluster secret, to sign as any client [default: DIR/cluster.secret
    /// when talking to the cluster in --dir].
    #[arg(long, global = true)]
    pub cluster_secret_file: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 20, global = true)]
    pub timeout_secs: u64,
}

impl Target {
    /// The replicas' API base URLs.
    pub fn apis(&self) -> anyhow::Result<Vec<String>> {
        if !self.apis.is_empty() {
            return Ok(self
                .apis
                .iter()
                .map(|a| a.trim_end_matches('/').to_string())
                .collect());
        }
        if let Some(n) = self.nodes {
            let bases = skein_node::PortBases::shifted(self.port_offset)
                .map_err(|e| UsageError(e.to_string()))?;
            return Ok((1..=n)
                .map(|id| format!("http://127.0.0.1:{}", bases.api + id))
                .collect());
        }
        let cluster = ClusterState::load(&self.dir).map_err(|e| {
            UsageError(format!(
                "{e:#}; or name the replicas with --api URL (repeated) or --nodes N"
            ))
        })?;
        Ok(cluster.nodes.iter().map(|n| n.api.clone()).collect())
    }

    /// How requests are signed: see [`crate::client_auth`].
    pub fn signer(&self) -> anyhow::Result<Signer> {
        let dir = (self.apis.is_empty() && self.nodes.is_none()).then_some(self.dir.as_path());
        signer(
            self.client,
            self.client_key.as_deref(),
            self.cluster_secret_file.as_deref(),
            dir,
        )
    }

    /// f: given, or the largest with n ≥ 5f+1 (BFTLIST.md §1).
    pub fn f(&self, n: usize) -> usize {
        self.f.unwrap_or(n.saturating_sub(1) / 5)
    }
}
