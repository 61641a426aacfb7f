//! `skein bench` flags, their limits, and their validation into a [`Plan`].

use crate::cli::UsageError;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Hard caps: every run is bounded in count and in time, whatever the flags say.
pub const REQUESTS_MAX: u64 = 10_000_000;
pub const DURATION_SECS_MAX: u64 = 3_600;
pub const WARMUP_SECS_MAX: u64 = 600;
pub const CLIENTS_MAX: usize = 1_024;
pub const RATE_MAX: f64 = 1_000_000.0;
pub const KEY_SPACE_MAX: u64 = 10_000_000;
/// The raft service refuses values over 64 KiB.
pub const VALUE_BYTES_MAX: usize = 64 * 1024;
pub const TIMEOUT_MS_MAX: u64 = 600_000;
/// Nodes `--spawn` may start (bftlist needs 6 for f = 1).
pub const SPAWN_NODES_MAX: u16 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Raft,
    Bftlist,
    Heartbeat,
    Dht,
    Gossip,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// raft, dht: write a random key of the key space.
    Put,
    /// raft, dht: read a random key (the key space is written first; linearizable on raft).
    Get,
    /// raft: compare-and-swap on the client's own key, with the revision it last saw.
    Cas,
    /// bftlist: append a value (to every replica; done on f+1 matching replies).
    Append,
    /// bftlist: a linearizable read ordered through the log.
    Read,
    /// heartbeat: an echo answered by one node.
    Echo,
    /// gossip: broadcast a message; done once delivered where --gossip-until says.
    Broadcast,
}

impl Service {
    pub fn ops(self) -> &'static [Op] {
        match self {
            Service::Raft => &[Op::Put, Op::Get, Op::Cas],
            Service::Bftlist => &[Op::Append, Op::Read],
            Service::Heartbeat => &[Op::Echo],
            Service::Dht => &[Op::Put, Op::Get],
            Service::Gossip => &[Op::Broadcast],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Raft => "raft",
            Service::Bftlist => "bftlist",
            Service::Heartbeat => "heartbeat",
            Service::Dht => "dht",
            Service::Gossip => "gossip",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        <Self as ValueEnum>::from_str(name, true).ok()
    }
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Cas => "cas",
            Op::Append => "append",
            Op::Read => "read",
            Op::Echo => "echo",
            Op::Broadcast => "broadcast",
        }
    }
}

/// Where a gossip broadcast must be delivered before it counts as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GossipUntil {
    /// At every node of the cluster (coverage of the whole overlay).
    #[default]
    All,
    /// At one node: the one after the origin in the node list.
    Receiver,
}

/// Whose servers the load goes to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize)]
pub enum TargetKind {
    /// skein nodes (their REST APIs).
    #[default]
    Skein,
    /// An etcd (3.4+) cluster through its v3 JSON gateway, for comparison with
    /// raft: the same put/get/cas workload, keys and values.
    Etcd,
    /// One redis server (`--api redis://HOST:PORT`), as a single-node
    /// ceiling for raft's put/get workload (SET/GET over RESP).
    Redis,
}

impl TargetKind {
    /// The name reports show instead of a skein service's.
    pub fn name(self) -> Option<&'static str> {
        match self {
            TargetKind::Skein => None,
            TargetKind::Etcd => Some("etcd"),
            TargetKind::Redis => Some("redis"),
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    skein cluster up --service raft --nodes 3 --detach\n  \
    skein bench --clients 16 --requests 20000\n  \
    skein bench --op get --rate 2000 --duration 10 --json get.json --plot get.svg\n  \
    skein bench --service bftlist --spawn 6 --port-offset 9000 --clients 4 --requests 1000\n  \
    skein bench --service dht --spawn 8 --port-offset 9000 --op get --key-space 1000\n  \
    skein bench --service gossip --spawn 8 --port-offset 9000 --gossip-until all --clients 4\n  \
    skein bench --target etcd --api http://127.0.0.1:2379,http://127.0.0.1:22379 --clients 16\n  \
    skein bench --target redis --api redis://127.0.0.1:6379 --op get --clients 16")]
pub struct BenchArgs {
    /// skein nodes, or etcd's client URLs or a redis server (--api) for a
    /// side-by-side run (bench/compare.sh).
    #[arg(long, value_enum, default_value_t = TargetKind::Skein)]
    pub target: TargetKind,
    /// The service to drive [default: the cluster's in --dir, else raft].
    #[arg(long, value_enum)]
    pub service: Option<Service>,
    /// The operation [default: put for raft and dht, append for bftlist,
    /// broadcast for gossip, echo for heartbeat].
    #[arg(long, value_enum)]
    pub op: Option<Op>,
    /// Concurrent clients, one connection pool each. Closed loop: each sends its
    /// next request when the last is answered. With --rate: the most requests in flight.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Open loop: start requests at this fixed rate (per second); latency is
    /// measured from each request's intended start, so queueing is counted.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Stop after this many measured requests (hard cap 10,000,000).
    #[arg(long, default_value_t = 10_000)]
    pub requests: u64,
    /// Stop after this many measured seconds, whichever comes first (hard cap 3,600).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Run unmeasured for this many seconds first (connections, caches; cap 600).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Keys are drawn uniformly from this many (raft, dht).
    #[arg(long, default_value_t = 1_000)]
    pub key_space: u64,
    /// Size of each written value, echoed text or broadcast payload, in bytes (at most 65,536).
    #[arg(long, default_value_t = 64)]
    pub value_bytes: usize,
    /// gossip: a broadcast is done once delivered at every node (all) or at the
    /// node after its origin in the node list (receiver). Deliveries are seen by
    /// polling each node's message log, so latency has a resolution of a few ms.
    #[arg(long, value_enum, default_value_t = GossipUntil::All)]
    pub gossip_until: GossipUntil,
    /// One request gives up after this many milliseconds (counted as a `timeout` error).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Use the cluster of `skein cluster up --dir DIR` (its cluster.json lists the nodes).
    #[arg(long, default_value = crate::cluster::DEFAULT_DIR, env = "SKEIN_CLUSTER_DIR")]
    pub dir: PathBuf,
    /// The nodes' REST APIs, comma-separated, instead of --dir (redis://HOST:PORT with --target redis).
    #[arg(long, value_delimiter = ',')]
    pub api: Vec<String>,
    /// bftlist: the cluster secret, to sign each client's requests with its
    /// keys [default: DIR/cluster.secret with --dir or --spawn].
    #[arg(long)]
    pub cluster_secret_file: Option<std::path::PathBuf>,
    /// Boot a fresh local cluster of N nodes in a temporary directory, run, and
    /// stop it again (also on error or Ctrl-C). Use with --port-offset.
    #[arg(long)]
    pub spawn: Option<u16>,
    /// With --spawn: the cluster's port offset (as `cluster up --port-offset`).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw throughput and latency over time into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Validated settings: every bound checked, every default resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    pub target: TargetKind,
    pub service: Service,
    pub op: Op,
    pub clients: usize,
    pub rate_per_sec: Option<f64>,
    pub requests: u64,
    pub duration: Duration,
    pub warmup: Duration,
    pub key_space: u64,
    pub value_bytes: usize,
    pub timeout: Duration,
    pub gossip_until: GossipUntil,
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

impl BenchArgs {
    /// Checks every flag; `cluster_service` is the service of the cluster in --dir, if known.
    pub fn plan(&self, cluster_service: Option<Service>) -> anyhow::Result<Plan> {
        let service = match (self.service, cluster_service) {
            (Some(given), Some(running)) if given != running => {
                return Err(usage(format!(
                "--service {}: the cluster in {} runs {}; drop --service or point --dir elsewhere",
                given.name(),
                self.dir.display(),
                running.name()
            )))
            }
            (Some(given), _) => given,
            (None, Some(running)) => running,
            (None, None) => Service::Raft,
        };
        let op = self.op.unwrap_or(service.ops()[0]);
        check_op(service, op)?;
        self.check_limits()?;
        Ok(Plan {
            target: self.target,
            service,
            op,
            clients: self.clients,
            rate_per_sec: self.rate,
            requests: self.requests,
            duration: Duration::from_secs(self.duration),
            warmup: Duration::from_secs(self.warmup),
            key_space: self.key_space,
            value_bytes: self.value_bytes,
            timeout: Duration::from_millis(self.timeout_ms),
            gossip_until: self.gossip_until,
        })
    }
}

impl BenchArgs {
    /// The checks that need no cluster: run before one is looked up or booted.
    pub fn check_limits(&self) -> anyhow::Result<()> {
        if let (Some(service), Some(op)) = (self.service, self.op) {
            check_op(service, op)?;
        }
        check_range("--clients", self.clients as u64, 1, CLIENTS_MAX as u64)?;
        check_range("--requests", self.requests, 1, REQUESTS_MAX)?;
        check_range("--duration", self.duration, 1, DURATION_SECS_MAX)?;
        check_range("--warmup", self.warmup, 0, WARMUP_SECS_MAX)?;
        check_range("--key-space", self.key_space, 1, KEY_SPACE_MAX)?;
        check_range(
            "--value-bytes",
            self.value_bytes as u64,
            1,
            VALUE_BYTES_MAX as u64,
        )?;
        check_range("--timeout-ms", self.timeout_ms, 1, TIMEOUT_MS_MAX)?;
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= RATE_MAX) {
                return Err(usage(format!(
                    "--rate {rate}: expected a rate above 0 and at most {RATE_MAX} per second"
                )));
            }
        }
        if self.target == TargetKind::Etcd {
            let raft = matches!(self.service, None | Some(Service::Raft));
            if self.api.is_empty() || self.spawn.is_some() || !raft {
                return Err(usage(
                    "--target etcd: name etcd's client URLs with --api (no --spawn, --service raft or none); ops put, get, cas".into(),
                ));
            }
        }
        if self.target == TargetKind::Redis {
            let raft = matches!(self.service, None | Some(Service::Raft));
            let op = matches!(self.op, None | Some(Op::Put) | Some(Op::Get));
            let url = self.api.len() == 1 && self.api[0].starts_with("redis://");
            if !(url && self.spawn.is_none() && raft && op) {
                return Err(usage(
                    "--target redis: name one server with --api redis://HOST:PORT (no --spawn, --service raft or none); ops put, get".into(),
                ));
            }
        }
        if let Some(nodes) = self.spawn {
            check_range("--spawn", u64::from(nodes), 1, u64::from(SPAWN_NODES_MAX))?;
            if !self.api.is_empty() {
                return Err(usage("--spawn and --api exclude each other".into()));
            }
        }
        Ok(())
    }
}

fn check_op(service: Service, op: Op) -> anyhow::Result<()> {
    if service.ops().contains(&op) {
        return Ok(());
    }
    let ops: Vec<&str> = service.ops().iter().map(|o| o.name()).collect();
    Err(usage(format!(
        "--op {}: {} expected one of: {}",
        op.name(),
        service.name(),
        ops.join(", ")
    )))
}

fn check_range(flag: &str, value: u64, min: u64, max: u64) -> anyhow::Result<()> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(usage(format!("{flag} {value}: expected {min} to {max}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(flags: &[&str]) -> BenchArgs {
        let argv = std::iter::once("bench").chain(flags.iter().copied());
        Wrapper::try_parse_from(argv).expect("flags parse").args
    }

    fn refusal(flags: &[&str]) -> String {
        let error = parse(flags).plan(None).expect_err("refused");
        assert!(error.downcast_ref::<UsageError>().is_some(), "{error}");
        error.to_string()
    }

    #[test]
    fn defaults_follow_the_service() {
        let plan = parse(&[]).plan(None).unwrap();
        assert_eq!((plan.service, plan.op), (Service::Raft, Op::Put));
        let plan = parse(&[]).plan(Some(Service::Bftlist)).unwrap();
        assert_eq!((plan.service, plan.op), (Service::Bftlist, Op::Append));
        let plan = parse(&["--service", "heartbeat"]).plan(None).unwrap();
        assert_eq!(plan.op, Op::Echo);
        assert_eq!(plan.requests, 10_000);
        assert_eq!(plan.duration, Duration::from_secs(60));
    }

    #[test]
    fn bad_flags_are_usage_errors_that_say_what_is_accepted() {
        assert!(refusal(&["--clients", "0"]).contains("expected 1 to 1024"));
        assert!(refusal(&["--requests", "0"]).contains("--requests 0"));
        assert!(refusal(&["--duration", "99999"]).contains("expected 1 to 3600"));
        assert!(refusal(&["--value-bytes", "70000"]).contains("expected 1 to 65536"));
        assert!(refusal(&["--rate", "0"]).contains("expected a rate above 0"));
        assert!(refusal(&["--rate", "NaN"]).contains("--rate"));
        assert!(refusal(&["--op", "append"]).contains("raft expected one of: put, get, cas"));
        assert!(refusal(&["--spawn", "3", "--api", "http://a:1"]).contains("exclude"));
        assert!(refusal(&["--spawn", "0"]).contains("--spawn 0"));
        let redis = ["--target", "redis", "--api", "redis://127.0.0.1:6379"];
        assert!(parse(&redis).plan(None).is_ok());
        assert!(refusal(&[&redis[..], &["--op", "cas"]].concat()).contains("ops put, get"));
        assert!(refusal(&["--target", "redis", "--api", "http://a:1"]).contains("redis://"));
    }

    #[test]
    fn a_service_flag_must_match_the_running_cluster() {
        let error = parse(&["--service", "raft"])
            .plan(Some(Service::Bftlist))
            .unwrap_err();
        assert!(error.to_string().contains("runs bftlist"), "{error}");
    }

    #[test]
    fn service_names_round_trip() {
        for service in [
            Service::Raft,
            Service::Bftlist,
            Service::Heartbeat,
            Service::Dht,
            Service::Gossip,
        ] {
            assert_eq!(Service::from_name(service.name()), Some(service));
        }
        assert_eq!(Op::Cas.name(), "cas");
    }
}
