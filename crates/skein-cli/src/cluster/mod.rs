//! `skein cluster`: boot, stop and break a cluster of local node processes.
//!
//! `up` starts one `skein node` process per id on loopback, records them in
//! `DIR/cluster.json`, and either supervises them until Ctrl-C or, with
//! `--detach`, leaves them running for scripts and tests. The fault
//! commands act on processes with signals, as the original's Thor did.

mod dht_ready;
mod launch;
pub mod process;
pub mod state;

use crate::cli::UsageError;
use clap::{Args, Subcommand};
use nix::sys::signal::Signal;
use skein_node::Service;
use state::{ClusterState, NodeState};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DIR: &str = ".skein/cluster";
/// How long a stopping node may take before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Start N nodes on 127.0.0.1, wait until each answers, print their URLs.
    Up(launch::UpArgs),
    /// Stop every node of the cluster (SIGTERM, then SIGKILL after 5 s).
    Down(DirArg),
    /// SIGKILL a node: a crash without warning.
    Kill(NodeTarget),
    /// SIGSTOP a node: it stops answering but keeps its state and sockets.
    Pause(NodeTarget),
    /// SIGCONT a paused node.
    Resume(NodeTarget),
    /// Stop a node if it runs, start it again with the same settings and data.
    Restart(NodeTarget),
}

#[derive(Args, Debug)]
pub struct DirArg {
    /// The cluster's directory (state file, logs, data).
    #[arg(long, default_value = DEFAULT_DIR, env = "SKEIN_CLUSTER_DIR")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct NodeTarget {
    /// The node's id.
    pub node: u16,
    #[command(flatten)]
    pub dir: DirArg,
}

pub fn run(command: ClusterCommand, services: &[Service]) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Up(args) => launch::up(args, services),
        ClusterCommand::Down(DirArg { dir }) => {
            launch::stop_and_report(&dir, &mut ClusterState::load(&dir)?)
        }
        ClusterCommand::Kill(target) => act(target, Signal::SIGKILL, NodeState::Killed, "killed"),
        ClusterCommand::Pause(target) => act(target, Signal::SIGSTOP, NodeState::Paused, "paused"),
        ClusterCommand::Resume(target) => {
            act(target, Signal::SIGCONT, NodeState::Running, "resumed")
        }
        ClusterCommand::Restart(NodeTarget { node, dir }) => launch::restart(&dir.dir, node),
    }
}

fn act(target: NodeTarget, signal: Signal, next: NodeState, verb: &str) -> anyhow::Result<()> {
    let dir = target.dir.dir;
    let mut cluster = ClusterState::load(&dir)?;
    let node = cluster.node_mut(target.node)?;
    if !process::signal(node.pid, node.id, signal) {
        return Err(UsageError(format!(
            "node {} is not running (pid {} is gone); `skein cluster restart {}` starts it",
            node.id, node.pid, node.id
        ))
        .into());
    }
    node.state = next;
    cluster.save(&dir)?;
    println!("node {} {verb}", target.node);
    Ok(())
}
