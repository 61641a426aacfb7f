//! `skein node`: run one node in the foreground until SIGINT or SIGTERM.

use crate::cli::find_service;
use crate::EXIT_USAGE;
use clap::Args;
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases, Service};
use std::path::PathBuf;
use std::process::ExitCode;

/// Settings come from flags, then `SKEIN_*` environment variables, then the
/// `--config` TOML file, then defaults. A node listens on base + id for each
/// port: metrics 3000+id, REST API 4000+id, TCP 5000+id, UDP 7000+id.
#[derive(Args, Debug, Clone, Default)]
pub struct NodeArgs {
    /// This node's id, 1 to 999.
    #[arg(long, env = "SKEIN_ID")]
    pub id: Option<u16>,
    /// Take the id from the host name's trailing number plus --id-offset (`raft-2` → 2), when --id is not given: stable across restarts in compose and Kubernetes StatefulSets.
    #[arg(long, env = "SKEIN_ID_FROM_HOSTNAME")]
    pub id_from_hostname: bool,
    /// Added to the host name's number by --id-from-hostname (1 for a StatefulSet, whose pods count from 0) [default: 0].
    #[arg(long, env = "SKEIN_ID_OFFSET")]
    pub id_offset: Option<u16>,
    /// The service to run (see `skein services`) [default: heartbeat].
    #[arg(long, env = "SKEIN_SERVICE")]
    pub service: Option<String>,
    /// Cluster members, comma-separated: ID, ID@HOST or ID@HOST:TCP_PORT:UDP_PORT. This node's own id may be listed.
    #[arg(long, env = "SKEIN_PEERS", value_delimiter = ',')]
    pub peers: Option<Vec<String>>,
    /// Find peers through DNS: every A record of NAME is probed on PORT, where each node serves
    /// its id and ports; re-resolved every --peers-dns-interval-ms, so moved and added nodes are found.
    #[arg(long, env = "SKEIN_PEERS_DNS", value_name = "NAME:PORT")]
    pub peers_dns: Option<String>,
    /// How often --peers-dns resolves and probes again [default: 2000].
    #[arg(long, env = "SKEIN_PEERS_DNS_INTERVAL_MS")]
    pub peers_dns_interval_ms: Option<u64>,
    /// The cluster's members are ids 1 to N (with --peers-dns, whose answers give their addresses).
    #[arg(long, env = "SKEIN_CLUSTER_SIZE")]
    pub cluster_size: Option<u16>,
    /// Boot nodes to join through (gossip), in the --peers forms; added to --peers.
    #[arg(long = "boot", env = "SKEIN_BOOT_NODE", value_delimiter = ',')]
    pub boot: Option<Vec<String>>,
    /// A setting of the service itself, e.g. `--set election_timeout_min_ms=300` (repeatable).
    /// Overrides `SKEIN_<SERVICE>_<KEY>` variables, which override the config file's `[service]` table.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// dht: join the ring through this node (`ID@HOST:TCP_PORT:UDP_PORT`); the same as
    /// `--set join=ADDR` or `SKEIN_DHT_JOIN=ADDR`.
    /// ADDR's host may be a host name (resolved at start); a node given its own id starts the ring.
    #[arg(long, env = "SKEIN_JOIN", value_name = "ADDR")]
    pub join: Option<String>,
    /// TOML file with node settings as top-level keys and the service's settings in a table named after it.
    #[arg(long, env = "SKEIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "SKEIN_BIND")]
    pub bind: Option<String>,
    /// The IP address peers reach this node at, handed to peers that add it at run time
    /// [default: the bind address, or 127.0.0.1 when binding to 0.0.0.0 or ::].
    #[arg(long, env = "SKEIN_ADVERTISE")]
    pub advertise: Option<String>,
    /// Added to every default port base (so node 1 of offset 10000 uses 13001, 14001, 15001, 17001).
    #[arg(long, env = "SKEIN_PORT_OFFSET")]
    pub port_offset: Option<u16>,
    /// Metrics port base [default: 3000].
    #[arg(long, env = "SKEIN_METRICS_BASE")]
    pub metrics_base: Option<u16>,
    /// REST API port base [default: 4000].
    #[arg(long, env = "SKEIN_API_BASE")]
    pub api_base: Option<u16>,
    /// TCP channel port base [default: 5000].
    #[arg(long, env = "SKEIN_STREAM_BASE")]
    pub stream_base: Option<u16>,
    /// UDP channel port base [default: 7000].
    #[arg(long, env = "SKEIN_DATAGRAM_BASE")]
    pub datagram_base: Option<u16>,
    /// Where the node keeps durable state [default: .skein/data/node-ID].
    #[arg(long, env = "SKEIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// error, warn, info, debug, trace, or a tracing filter [default: info].
    #[arg(long, env = "SKEIN_LOG")]
    pub log_level: Option<String>,
    /// Log JSON lines instead of text.
    #[arg(long, env = "SKEIN_LOG_JSON")]
    pub log_json: bool,
    /// Write logs to DIR/node-ID.log instead of stderr.
    #[arg(long, env = "SKEIN_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// A peer not heard from for this long is reported down [default: 1500].
    #[arg(long, env = "SKEIN_PEER_TIMEOUT_MS")]
    pub peer_timeout_ms: Option<u64>,
    /// Frames queued per peer before the oldest is dropped [default: 1024].
    #[arg(long, env = "SKEIN_SEND_QUEUE_MAX")]
    pub send_queue_max: Option<usize>,
    /// How long a client request may wait for its reply [default: 5000].
    #[arg(long, env = "SKEIN_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Largest frame payload accepted or sent [default: 1048576].
    #[arg(long, env = "SKEIN_FRAME_BYTES_MAX")]
    pub frame_bytes_max: Option<usize>,
    /// Serve the REST endpoints that corrupt state or make this node misbehave (off by default).
    #[arg(long, env = "SKEIN_ALLOW_FAULT_INJECTION")]
    pub allow_fault_injection: bool,
    /// Act out an emulated Byzantine behaviour from the start, e.g. unresponsive or different-views (services that have them: bftlist).
    #[arg(long, env = "SKEIN_BYZANTINE")]
    pub byzantine: Option<String>,
    /// Authenticate every peer frame with MACs keyed from this secret (at least 16 bytes; the same on every node). Prefer --cluster-secret-file: a flag shows in `ps`. Without a secret, peer channels are unauthenticated.
    #[arg(long, env = "SKEIN_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    /// A file holding the cluster secret (surrounding whitespace ignored); keep it mode 0600. `skein cluster up` makes one per cluster.
    #[arg(long, env = "SKEIN_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// This node's own keys (pair keys with each peer, its client keys) instead of the cluster secret, so it cannot derive other members' keys; `skein cluster up` writes one per node for bftlist.
    #[arg(long, env = "SKEIN_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN` on every REST request that changes state (writes, membership, fault injection); reads stay open. Set it whenever --bind is not loopback. Prefer --api-token-file.
    #[arg(long, env = "SKEIN_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// A file holding the API token (surrounding whitespace ignored).
    #[arg(long, env = "SKEIN_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// State-changing REST requests per second per client address, answered 429 beyond it; 0 for no limit [default: 50000].
    #[arg(long, env = "SKEIN_API_WRITE_RATE")]
    pub api_write_rate: Option<u32>,
}

impl NodeArgs {
    /// The flag/environment layer. `--port-offset` fills the bases not given explicitly.
    pub fn overrides(&self) -> Result<NodeOverrides, skein_node::ConfigError> {
        let shifted = self.port_offset.map(PortBases::shifted).transpose()?;
        Ok(NodeOverrides {
            id: self.id,
            service: self.service.clone(),
            peers: match (&self.peers, &self.boot) {
                (None, None) => None,
                (peers, boot) => Some(
                    peers
                        .iter()
                        .chain(boot)
                        .flatten()
                        .map(|peer| skein_node::address::resolve_host(peer))
                        .collect::<Result<_, _>>()?,
                ),
            },
            bind: self.bind.clone(),
            advertise: self.advertise.clone(),
            metrics_base: self.metrics_base.or(shifted.map(|b| b.metrics)),
            api_base: self.api_base.or(shifted.map(|b| b.api)),
            stream_base: self.stream_base.or(shifted.map(|b| b.stream)),
            datagram_base: self.datagram_base.or(shifted.map(|b| b.datagram)),
            data_dir: self.data_dir.clone(),
            log_level: self.log_level.clone(),
            log_json: self.log_json.then_some(true),
            log_dir: self.log_dir.clone(),
            peer_timeout_ms: self.peer_timeout_ms,
            send_queue_max: self.send_queue_max,
            request_timeout_ms: self.request_timeout_ms,
            frame_bytes_max: self.frame_bytes_max,
            allow_fault_injection: self.allow_fault_injection.then_some(true),
            byzantine: self.byzantine.clone(),
            cluster_secret: self.cluster_secret.clone(),
            cluster_secret_file: self.cluster_secret_file.clone(),
            keys_file: self.keys_file.clone(),
            api_token: self.api_token.clone(),
            api_token_file: self.api_token_file.clone(),
            api_write_rate: self.api_write_rate,
            peers_dns: self.peers_dns.clone(),
            cluster_size: self.cluster_size,
            peers_dns_interval_ms: self.peers_dns_interval_ms,
            id_from_hostname: self.id_from_hostname.then_some(true),
            id_offset: self.id_offset,
        })
    }

    pub fn settings(&self) -> Result<NodeSettings, skein_node::ConfigError> {
        let (file, sections) = match &self.config {
            Some(path) => NodeOverrides::from_toml(path)?,
            None => (NodeOverrides::default(), toml::Table::new()),
        };
        let mut settings = NodeSettings::resolve(self.overrides()?.or(file), sections)?;
        // Service settings: file < SKEIN_<SERVICE>_<KEY> < --set KEY=VALUE.
        let prefix = settings.service_env_prefix();
        let from_env: Vec<(String, String)> = std::env::vars()
            .filter_map(|(name, value)| Some((name.strip_prefix(&prefix)?.to_string(), value)))
            .collect();
        settings.set_service_values(
            "environment",
            from_env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )?;
        let mut from_flags = Vec::new();
        for pair in &self.set {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                skein_node::ConfigError::new(
                    "set",
                    pair,
                    "KEY=VALUE, e.g. --set election_timeout_min_ms=300",
                )
            })?;
            from_flags.push((key, value));
        }
        // A node given its own address to join through starts the ring instead,
        // so every node of a compose file or StatefulSet can share one setting.
        let own_join = self.join.as_deref().is_some_and(|join| {
            join.split('@')
                .next()
                .and_then(|id| id.trim().parse::<u16>().ok())
                == Some(settings.id.0)
        });
        if let Some(join) = self.join.as_ref().filter(|_| !own_join) {
            let join = &skein_node::address::resolve_host(join)?;
            if settings.service != "dht" {
                return Err(skein_node::ConfigError::new(
                    "join",
                    join,
                    "--join is a dht setting: use it with --service dht",
                ));
            }
            // Quoted, so the address is read as a TOML string.
            let quoted = format!("\"{join}\"");
            settings.set_service_values("join", [("join", quoted.as_str())])?;
        }
        settings.set_service_values("set", from_flags)?;
        Ok(settings)
    }
}

pub fn run(args: NodeArgs, services: &[Service]) -> ExitCode {
    let prepared = args.settings().and_then(|settings| {
        let service = *find_service(services, &settings.service)?;
        Ok((settings, service))
    });
    let (settings, service) = match prepared {
        Ok(ready) => ready,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let log_name = format!("node-{}.log", settings.id);
    let logs_to_file = settings.log_dir.is_some();
    let _log_guard = match skein_node::logging::init(
        &settings.log_level,
        settings.log_json,
        settings.log_dir.as_deref(),
        &log_name,
    ) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: cannot open the log directory: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let result = runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        service.run(settings, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "node failed");
            if logs_to_file {
                eprintln!("error: {error}"); // the terminal sees it too, not only the log file
            }
            match error {
                skein_node::NodeError::Config(_) => ExitCode::from(EXIT_USAGE),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
    }
    shutdown.cancel();
}
