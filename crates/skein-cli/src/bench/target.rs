//! Which nodes to load: `--api` URLs, the cluster in `--dir`, or a fresh
//! cluster `--spawn` boots and always stops again ([`SpawnedCluster`]).

use super::args::{BenchArgs, Service};
use crate::cli::UsageError;
use crate::client_auth::{signer, Signer};
use crate::cluster::state::ClusterState;
use anyhow::Context;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The nodes' API base URLs and the service the cluster runs, if known.
pub struct Target {
    pub apis: Vec<String>,
    pub service: Option<Service>,
    /// How bftlist clients sign their requests.
    pub signer: Signer,
}

/// `--api` if given, else the cluster in `--dir`.
pub fn resolve(args: &BenchArgs) -> anyhow::Result<Target> {
    if !args.api.is_empty() {
        let apis: Vec<String> = args
            .api
            .iter()
            .map(|a| a.trim().trim_end_matches('/').to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let redis = args.target == super::args::TargetKind::Redis;
        if let Some(bad) = apis.iter().find(|a| !redis && !a.starts_with("http://")) {
            return Err(UsageError(format!(
                "--api {bad}: expected URLs such as http://127.0.0.1:4001"
            ))
            .into());
        }
        return Ok(Target {
            apis,
            service: None,
            signer: signer(0, None, args.cluster_secret_file.as_deref(), None)?,
        });
    }
    let mut target = from_dir(&args.dir)?;
    if args.cluster_secret_file.is_some() {
        target.signer = signer(0, None, args.cluster_secret_file.as_deref(), None)?;
    }
    Ok(target)
}

fn from_dir(dir: &std::path::Path) -> anyhow::Result<Target> {
    let cluster = ClusterState::load(dir).map_err(|e| {
        UsageError(format!(
            "{e:#}; or name the nodes with --api URL,URL,… or boot one with --spawn N"
        ))
    })?;
    Ok(Target {
        apis: cluster.nodes.iter().map(|n| n.api.clone()).collect(),
        service: Service::from_name(&cluster.service),
        signer: signer(0, None, None, Some(dir))?,
    })
}

/// A cluster `skein bench --spawn` started in a directory of its own; it is
/// stopped (`skein cluster down`) and its directory deleted when dropped,
/// so an error or Ctrl-C after boot never leaves nodes behind.
pub struct SpawnedCluster {
    executable: PathBuf,
    pub dir: PathBuf,
}

impl SpawnedCluster {
    /// `skein cluster up --detach --fresh` of `nodes` nodes on `port_offset`.
    pub fn up(service: Service, nodes: u16, port_offset: u16) -> anyhow::Result<Self> {
        let executable = std::env::current_exe().context("cannot find the skein executable")?;
        let dir = std::env::temp_dir().join(format!("skein-bench-{}", std::process::id()));
        let cluster = Self { executable, dir };
        eprintln!(
            "booting {nodes} {} nodes in {} (port offset {port_offset})…",
            service.name(),
            cluster.dir.display()
        );
        let out = cluster
            .skein()
            .args([
                "cluster",
                "up",
                "--detach",
                "--fresh",
                // No extra process on the machine being measured.
                "--no-dashboard",
                "--service",
                service.name(),
            ])
            .args([
                "--nodes",
                &nodes.to_string(),
                "--port-offset",
                &port_offset.to_string(),
            ])
            .stdout(Stdio::null())
            .output()
            .context("cannot run `skein cluster up`")?;
        if !out.status.success() {
            anyhow::bail!(
                "could not boot the cluster: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(cluster)
    }

    pub fn target(&self) -> anyhow::Result<Target> {
        from_dir(&self.dir)
    }

    /// `skein …` with this cluster's directory (`cluster up` and `down` read it from the env).
    fn skein(&self) -> Command {
        let mut command = Command::new(&self.executable);
        command.env("SKEIN_CLUSTER_DIR", &self.dir);
        command
    }
}

impl Drop for SpawnedCluster {
    fn drop(&mut self) {
        let down = self
            .skein()
            .args(["cluster", "down"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match down {
            Ok(status) if status.success() => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            _ => eprintln!(
                "could not stop the benchmark cluster; run `skein cluster down --dir {}`",
                self.dir.display()
            ),
        }
    }
}
