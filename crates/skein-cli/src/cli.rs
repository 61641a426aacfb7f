//! Every `skein` command and flag.

use crate::{
    bench, cluster, dashboard_cmd, dht_cmd, gossip_cmd, kv_cmd, list_cmd, node_cmd, raft_cmd,
    request_cmd, shell_cmd, sim_cmd, status_cmd, EXIT_USAGE,
};
use clap::{Parser, Subcommand};
use skein_node::Service;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "skein",
    version,
    about = "Build, run and break fault-tolerant distributed systems",
    long_about = "skein runs replicated services on one runtime and lets you see and test how they \
                  survive crashes, partitions, corrupted state and lying replicas.\n\n\
                  Quick start:\n  skein cluster up            boot a 4-node local cluster and print its URLs\n  \
                  skein status --cluster      one table with every node's state\n  \
                  skein cluster kill 3        SIGKILL node 3 (then: skein cluster restart 3)\n  \
                  skein sim --seeds 0..100    simulate 100 seeded runs with faults and check them\n  \
                  skein services              list the services --service accepts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one node in the foreground (what `cluster up` starts for each id).
    Node(Box<node_cmd::NodeArgs>),
    /// Boot, stop and break a cluster of local node processes.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Show a node's status, or every node's with --cluster.
    Status(status_cmd::StatusArgs),
    /// Send one request to a node's service and print the reply.
    Request(request_cmd::RequestArgs),
    /// Run the deterministic simulator: one seed, or a sweep with --seeds.
    Sim(sim_cmd::SimArgs),
    /// List the services this binary can run.
    Services,
    /// A bftlist client: append, remove, read or show through every replica; check their agreement.
    List(list_cmd::ListArgs),
    /// Read and write the raft service's key-value store (follows redirects to the leader).
    #[command(subcommand)]
    Kv(kv_cmd::KvCommand),
    /// The raft service: a node's status, membership changes, leadership transfer.
    #[command(subcommand)]
    Raft(raft_cmd::RaftCommand),
    /// The dht service: put/get/delete (network or --local), lookup, routing, size, join, leave, files.
    #[command(subcommand)]
    Dht(dht_cmd::DhtCommand),
    /// An interactive dht prompt with the original BitDrizzle one-letter commands (H for help).
    Shell(shell_cmd::ShellArgs),
    /// The gossip service: broadcast, peers, a beacon's trace, leave.
    #[command(subcommand)]
    Gossip(gossip_cmd::GossipCommand),
    /// Load a cluster: closed or open loop, latency percentiles, --json and --plot.
    Bench(bench::args::BenchArgs),
    /// Serve the web dashboard for a cluster (`cluster up` serves one already).
    Dashboard(dashboard_cmd::DashboardArgs),
}

pub fn run(cli: Cli, services: &[Service]) -> ExitCode {
    let result = match cli.command {
        Command::Node(args) => return node_cmd::run(*args, services),
        Command::Cluster(command) => cluster::run(command, services),
        Command::Status(args) => status_cmd::run(args),
        Command::Request(args) => request_cmd::run(args),
        Command::List(args) => list_cmd::run(args),
        Command::Kv(command) => kv_cmd::run(command),
        Command::Raft(command) => raft_cmd::run(command),
        Command::Dht(command) => dht_cmd::run(command),
        Command::Shell(args) => shell_cmd::run(args),
        Command::Gossip(command) => gossip_cmd::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Dashboard(args) => dashboard_cmd::run(args),
        Command::Sim(args) => match sim_cmd::run(args) {
            Ok(code) => return code,
            Err(error) => Err(UsageError(format!("{error:#}")).into()),
        },
        Command::Services => {
            for service in services {
                println!("{:<12} {}", service.name, service.summary);
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            match error.downcast_ref::<UsageError>() {
                Some(_) => ExitCode::from(EXIT_USAGE),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// An error the user fixes by changing the command: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Finds a service by name, or says which names exist.
pub fn find_service<'a>(
    services: &'a [Service],
    name: &str,
) -> Result<&'a Service, skein_node::ConfigError> {
    services.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = services.iter().map(|s| s.name).collect();
        skein_node::ConfigError::new("service", name, format!("one of: {}", names.join(", ")))
    })
}
