//! skein-cli: the `skein` command line, as a library so that any binary —
//! skein's own or an example protocol's — gets the same commands for its
//! services by calling [`main_with`].
//!
//! Owns argument parsing, the local cluster launcher and the status views.
//! Must not contain protocol logic or transport code: it calls `skein-node`
//! for running nodes and `skein-sim` for simulations.
//!
//! Start reading at [`cli`] (every command and flag), then [`cluster`].

pub mod bench;
pub mod cli;
pub mod client_auth;
pub mod cluster;
pub mod dashboard_cmd;
pub mod dashboard_server;
pub mod dht_cmd;
pub mod gossip_cmd;
pub mod http;
pub mod kv_cmd;
pub mod leader_http;
pub mod list_cmd;
pub mod list_target;
pub mod node_cmd;
pub mod raft_cmd;
pub mod request_cmd;
pub mod shell_cmd;
pub mod sim_cmd;
pub mod status_cmd;

use clap::Parser;
use skein_node::Service;
use std::process::ExitCode;

/// Exit code for bad input: a setting, flag or argument the user must fix.
pub const EXIT_USAGE: u8 = 2;

/// Runs the `skein` command line with the given services.
pub fn main_with(services: Vec<Service>) -> ExitCode {
    let args = cli::Cli::parse();
    cli::run(args, &services)
}

/// skein's own services.
pub fn builtin_services() -> Vec<Service> {
    skein_node::service::builtin()
}
