//! `skein cluster`: boot, stop and break a cluster of local node processes.
//!
//! `up` starts one `skein node` process per id on loopback, records them in
//! `DIR/cluster.json`, and either supervises them until Ctrl-C or, with
//! `--detach`, leaves them running for scripts and tests. The fault
//! commands act on processes with signals, as the original's Thor did.

pub mod dashboard_process;
mod dht_ready;
mod launch;
pub mod process;
pub mod state;

use crate::cli::UsageError;
use clap::{Args, Subcommand};
use nix::sys::signal::Signal;
use skein_node::Service;
use state::{ClusterState, NodeState};
use std::path::{Path, PathBuf};
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
        ClusterCommand::Restart(NodeTarget { node, dir }) => {
            println!("{}", launch::restart_node(&dir.dir, node)?);
            Ok(())
        }
        ClusterCommand::Down(DirArg { dir }) => {
            launch::stop_and_report(&dir, &mut ClusterState::load(&dir)?)
        }
        ClusterCommand::Kill(target) => act(target, Signal::SIGKILL, NodeState::Killed, "killed"),
        ClusterCommand::Pause(target) => act(target, Signal::SIGSTOP, NodeState::Paused, "paused"),
        ClusterCommand::Resume(target) => {
            act(target, Signal::SIGCONT, NodeState::Running, "resumed")
        }
    }
}

fn act(target: NodeTarget, signal: Signal, next: NodeState, verb: &str) -> anyhow::Result<()> {
    println!(
        "{}",
        signal_node(&target.dir.dir, target.node, signal, next, verb)?
    );
    Ok(())
}

/// Sends `signal` to node `id` and records its `next` state; says what it did.
pub fn signal_node(
    dir: &Path,
    id: u16,
    signal: Signal,
    next: NodeState,
    verb: &str,
) -> anyhow::Result<String> {
    let mut cluster = ClusterState::load(dir)?;
    let node = cluster.node_mut(id)?;
    if !process::signal(node.pid, node.id, signal) {
        return Err(UsageError(format!(
            "node {} is not running (pid {} is gone); `skein cluster restart {}` starts it",
            node.id, node.pid, node.id
        ))
        .into());
    }
    node.state = next;
    cluster.save(dir)?;
    Ok(format!("node {id} {verb}"))
}

/// One of the process faults the dashboard offers, by name.
pub fn act_by_name(dir: &Path, id: u16, action: &str) -> anyhow::Result<String> {
    match action {
        "kill" => signal_node(dir, id, Signal::SIGKILL, NodeState::Killed, "killed"),
        "pause" => signal_node(dir, id, Signal::SIGSTOP, NodeState::Paused, "paused"),
        "resume" => signal_node(dir, id, Signal::SIGCONT, NodeState::Running, "resumed"),
        "restart" => launch::restart_node(dir, id),
        other => Err(UsageError(format!(
            "no action {other:?}: one of kill, pause, resume, restart"
        ))
        .into()),
    }
}
