//! `cluster up` and `cluster restart`: spawning nodes and waiting for them.

use super::state::{ClusterState, NodeRecord, NodeState};
use super::{dashboard_process, process};
use super::{DirArg, STOP_GRACE};
use crate::cli::{find_service, UsageError};
use crate::http::{block_on, client, fetch_status};
use anyhow::Context;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use indicatif::{ProgressBar, ProgressStyle};
use skein_node::{PortBases, Service};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NODES_MAX: u16 = 99;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// How many nodes, with ids 1..=N [default: the service's smallest
    /// useful cluster — bftlist 6 (f = 1), raft 3, dht 16, gossip 20, others 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=NODES_MAX as i64))]
    pub nodes: Option<u16>,
    /// The service every node runs (see `skein services`).
    #[arg(long, default_value = "bftlist", env = "SKEIN_SERVICE")]
    pub service: String,
    #[command(flatten)]
    pub dir: DirArg,
    /// Added to every port base, to run clusters side by side (node 1 of offset 10000 uses 13001, 14001, 15001, 17001).
    #[arg(long, default_value_t = 0)]
    pub port_offset: u16,
    /// Start the nodes and return; stop them later with `skein cluster down`.
    #[arg(long)]
    pub detach: bool,
    /// Delete the nodes' data from earlier runs first.
    #[arg(long)]
    pub fresh: bool,
    /// Give up if the nodes do not all answer within this many seconds.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout_secs: u64,
    /// TOML config file passed to every node.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Make a node act out an emulated Byzantine behaviour from the start,
    /// as ID:BEHAVIOUR (e.g. 3:different-views); repeat or comma-separate.
    /// Each such node gets `--byzantine BEHAVIOUR` (services that have them: bftlist).
    #[arg(long, value_delimiter = ',')]
    pub byzantine: Vec<String>,
    /// Run the peer channels (and bftlist's clients) unauthenticated. By
    /// default each `up` makes a random cluster secret, DIR/cluster.secret
    /// (mode 0600), and passes it to every node with --cluster-secret-file —
    /// or, for bftlist, gives each node only its own keys
    /// (DIR/keys/node-ID.keys, --keys-file), so a Byzantine replica cannot
    /// speak for another replica or a client.
    #[arg(long)]
    pub no_auth: bool,
    /// Let the nodes' fault endpoints and the dashboard's fault panel
    /// (kill, pause, Byzantine behaviours, corrupt state) be used: passes
    /// --allow-fault-injection to every node.
    #[arg(long)]
    pub allow_fault_injection: bool,
    /// Do not serve the dashboard (on port 8000 + --port-offset).
    #[arg(long)]
    pub no_dashboard: bool,
    /// Extra `skein node` flags for every node, after `--` (e.g. -- --peer-timeout-ms 800).
    #[arg(last = true)]
    pub node_args: Vec<String>,
}

/// The cluster size `cluster up` starts when `--nodes` is not given.
pub fn default_nodes(service: &str) -> u16 {
    match service {
        // n ≥ 5f+1 with f = 1 (BFTLIST.md §1).
        "bftlist" => 6,
        // 2f+1 with f = 1.
        "raft" => 3,
        "dht" => 16,
        "gossip" => 20,
        _ => 4,
    }
}

pub fn up(args: UpArgs, services: &[Service]) -> anyhow::Result<()> {
    block_on(up_async(args, services))
}

/// SIGINT and SIGTERM, caught from before the first node is spawned: a
/// Ctrl-C at any moment stops the nodes instead of orphaning them.
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

async fn up_async(args: UpArgs, services: &[Service]) -> anyhow::Result<()> {
    let mut stop = StopSignals::install()?;
    find_service(services, &args.service).map_err(|e| UsageError(e.to_string()))?;
    let nodes = args.nodes.unwrap_or_else(|| default_nodes(&args.service));
    let bases = PortBases::shifted(args.port_offset).map_err(|e| UsageError(e.to_string()))?;
    let dir = args.dir.dir.clone();
    if let Ok(mut existing) = ClusterState::load(&dir) {
        if existing
            .nodes
            .iter()
            .any(|n| process::is_our_node(n.pid, n.id))
        {
            return Err(UsageError(format!(
                "a cluster is already running in {}; stop it with `skein cluster down --dir {}`",
                dir.display(),
                dir.display()
            ))
            .into());
        }
        existing.nodes.clear();
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let data = dir.join("data");
    if args.fresh && data.exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("cannot delete {}", data.display()))?;
    }
    let executable = std::env::current_exe()
        .context("cannot find the running executable to start nodes with")?;
    let byzantine = byzantine_nodes(&args.byzantine, nodes)?;
    let secret_file = (!args.no_auth)
        .then(|| make_cluster_secret(&dir))
        .transpose()?;
    // Gossip nodes join through node 1 and find the rest themselves.
    let gossip = args.service == "gossip";
    let peers: Vec<String> = if gossip {
        vec!["1".into()]
    } else {
        (1..=nodes).map(|i| i.to_string()).collect()
    };
    let mut cluster = ClusterState {
        service: args.service.clone(),
        executable,
        nodes: Vec::new(),
        dashboard: None,
    };
    let mut children = Vec::new();
    for id in 1..=nodes {
        let mut node_args = vec![
            "node".to_string(),
            "--id".into(),
            id.to_string(),
            "--service".into(),
            args.service.clone(),
            "--peers".into(),
            peers.join(","),
            "--port-offset".into(),
            args.port_offset.to_string(),
            "--data-dir".into(),
            data.join(format!("node-{id}")).display().to_string(),
        ];
        if let Some(config) = &args.config {
            node_args.extend(["--config".into(), config.display().to_string()]);
        }
        if let Some(file) = &secret_file {
            if per_node_keys(&args.service) {
                let keys = write_node_keys(&dir, file, id, nodes)?;
                node_args.extend(["--keys-file".into(), keys.display().to_string()]);
            } else {
                node_args.extend(["--cluster-secret-file".into(), file.display().to_string()]);
            }
        }
        if args.allow_fault_injection {
            node_args.push("--allow-fault-injection".into());
        }
        if args.service == "dht" {
            node_args.extend(super::dht_ready::join_args(id, bases));
        }
        if gossip {
            for setting in GOSSIP_LAUNCHER_SETTINGS {
                node_args.extend(["--set".into(), setting.into()]);
            }
            // The boot node is also a beacon, so the dashboard's coverage
            // plot has exact times (one small report per node per broadcast).
            if id == 1 {
                node_args.extend(["--set".into(), "beacon=true".into()]);
            }
        }
        node_args.extend(args.node_args.iter().cloned());
        if let Some(behaviour) = byzantine.get(&id) {
            node_args.extend(["--byzantine".into(), behaviour.clone()]);
        }
        let record = NodeRecord {
            id,
            pid: 0,
            state: NodeState::Running,
            args: node_args,
            api: format!("http://127.0.0.1:{}", bases.api + id),
            metrics: format!("http://127.0.0.1:{}/metrics", bases.metrics + id),
            log: dir.join(format!("node-{id}.log")),
        };
        let child = spawn(&cluster.executable, &record)?;
        cluster.nodes.push(NodeRecord {
            pid: child.id(),
            ..record
        });
        children.push(child);
    }
    cluster.save(&dir)?;
    let ids: Vec<u16> = cluster.nodes.iter().map(|n| n.id).collect();
    let ready_timeout = Duration::from_secs(args.ready_timeout_secs);
    let ready = tokio::select! {
        ready = async {
            wait_ready(&cluster, &ids, ready_timeout).await?;
            if args.service == "dht" {
                super::dht_ready::wait_ring(&cluster, ready_timeout).await?;
            }
            Ok(())
        } => ready,
        _ = stop.recv() => Err(anyhow::anyhow!("interrupted while starting; stopped the nodes")),
    };
    if let Err(error) = ready {
        stop_all(&mut cluster);
        cluster.save(&dir)?;
        return Err(error);
    }
    println!("{}", url_table(&cluster));
    let dashboard_port = (!args.no_dashboard)
        .then(|| dashboard_process::port(args.port_offset))
        .flatten();
    if args.detach {
        if let Some(port) = dashboard_port {
            match dashboard_process::spawn(&cluster.executable, &dir, port) {
                Ok(record) => {
                    println!("dashboard: {}", record.url);
                    cluster.dashboard = Some(record);
                    cluster.save(&dir)?;
                }
                Err(e) => eprintln!("warning: no dashboard: {e:#}"),
            }
        }
        println!(
            "{} nodes running in the background; stop them with `skein cluster down --dir {}`",
            nodes,
            dir.display()
        );
        return Ok(());
    }
    if let Some(port) = dashboard_port {
        match dashboard_process::serve_here(&dir, port).await {
            Ok(url) => println!("dashboard: {url}"),
            Err(e) => eprintln!("warning: no dashboard: {e:#}"),
        }
    }
    println!(
        "{} nodes running; logs in {}. Press Ctrl-C to stop them all.",
        nodes,
        dir.display()
    );
    supervise(&dir, children, stop).await
}

/// `--byzantine ID:BEHAVIOUR,…` as a map; the node checks the behaviour's name.
fn byzantine_nodes(specs: &[String], nodes: u16) -> Result<BTreeMap<u16, String>, UsageError> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let parsed = spec
            .split_once(':')
            .and_then(|(id, b)| Some((id.trim().parse::<u16>().ok()?, b.trim())));
        match parsed {
            Some((id, b)) if (1..=nodes).contains(&id) && !b.is_empty() => {
                out.insert(id, b.to_string());
            }
            _ => {
                return Err(UsageError(format!(
                    "--byzantine {spec:?}: expected ID:BEHAVIOUR with ID from 1 to {nodes}, e.g. 3:different-views"
                )))
            }
        }
    }
    Ok(out)
}

/// Gossip on one machine: peer sync every 2-3 s instead of 60-90 s, so a
/// local overlay settles in seconds (later `--set` flags override these).
const GOSSIP_LAUNCHER_SETTINGS: [&str; 2] = ["network_sync_interval=2", "network_sync_jitter=1"];

/// A fresh random secret for this cluster in DIR/cluster.secret (mode 0600).
fn make_cluster_secret(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("cluster.secret");
    skein_node::auth::write_secret_file(&path, &skein_node::auth::generate_secret())
        .with_context(|| format!("cannot write the cluster secret to {}", path.display()))?;
    // An absolute path: nodes resolve it whatever their working directory.
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

/// Services whose members must not be able to speak for each other get
/// per-node key files instead of the secret (bftlist: Byzantine replicas).
/// Others keep the secret: raft admits new members at run time by it.
fn per_node_keys(service: &str) -> bool {
    service == "bftlist"
}

/// Clients whose keys each node's key file holds (bftlist accepts ids below
/// its `clients_max`, 64 by default; `skein bench` runs up to 1,024 clients).
const KEYED_CLIENTS: u32 = 1024;

/// DIR/keys/node-ID.keys (mode 0600): node `id`'s own keys, from the secret.
fn write_node_keys(dir: &Path, secret_file: &Path, id: u16, nodes: u16) -> anyhow::Result<PathBuf> {
    let secret = skein_node::auth::resolve_secret(None, Some(secret_file))?
        .context("the cluster secret file is empty")?;
    let members: Vec<skein_core::NodeId> = (1..=nodes).map(skein_core::NodeId).collect();
    let text = skein_node::node_keys::NodeKeys::render(
        &secret,
        skein_core::NodeId(id),
        &members,
        &[("bftlist", KEYED_CLIENTS)],
    );
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("cannot create {}", keys_dir.display()))?;
    let path = keys_dir.join(format!("node-{id}.keys"));
    skein_node::auth::write_secret_file(&path, text.trim_end())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(std::fs::canonicalize(&path).unwrap_or(path))
}

fn spawn(executable: &Path, record: &NodeRecord) -> anyhow::Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&record.log)
        .with_context(|| format!("cannot open {}", record.log.display()))?;
    let mut command = Command::new(executable);
    if record.args.iter().any(|a| a == "--cluster-secret-file") {
        // The cluster's own secret file; an inherited secret would conflict with it.
        command.env_remove("SKEIN_CLUSTER_SECRET");
    }
    command
        .args(&record.args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Own process group: a Ctrl-C in the terminal reaches the launcher,
        // which then stops the nodes in order, instead of killing them mid-write.
        .process_group(0)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start node {} with {}",
                record.id,
                executable.display()
            )
        })
}

/// Waits until every listed node answers `/api/v1/status`, with a progress bar.
async fn wait_ready(cluster: &ClusterState, ids: &[u16], timeout: Duration) -> anyhow::Result<()> {
    let bar = ProgressBar::new(ids.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} waiting for nodes [{bar:24}] {pos}/{len} ready {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let http = client(Duration::from_millis(500));
    let deadline = Instant::now() + timeout;
    let mut waiting: Vec<&NodeRecord> = cluster
        .nodes
        .iter()
        .filter(|n| ids.contains(&n.id))
        .collect();
    let result = async {
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for node in waiting {
                if fetch_status(&http, &node.api).await.is_ok() {
                    bar.inc(1);
                    continue;
                }
                if !process::is_alive(node.pid) {
                    anyhow::bail!(
                        "node {} exited during start-up; its log {} ends with:\n{}",
                        node.id,
                        node.log.display(),
                        log_tail(&node.log)
                    );
                }
                still.push(node);
            }
            waiting = still;
            if Instant::now() > deadline && !waiting.is_empty() {
                let ids: Vec<u16> = waiting.iter().map(|n| n.id).collect();
                anyhow::bail!(
                    "nodes {ids:?} did not answer within {timeout:?}; node {}'s log ends with:\n{}",
                    waiting[0].id,
                    log_tail(&waiting[0].log)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    result
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn url_table(cluster: &ClusterState) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["node", "service", "API", "docs", "metrics", "pid", "log"]);
    for node in &cluster.nodes {
        table.add_row([
            node.id.to_string(),
            cluster.service.clone(),
            node.api.clone(),
            format!("{}/docs", node.api),
            node.metrics.clone(),
            node.pid.to_string(),
            node.log.display().to_string(),
        ]);
    }
    table
}

/// Keeps the launcher alive until SIGINT/SIGTERM, reaping nodes that exit.
async fn supervise(
    dir: &Path,
    mut children: Vec<Child>,
    mut stop: StopSignals,
) -> anyhow::Result<()> {
    let mut reap = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = reap.tick() => children.retain_mut(|c| matches!(c.try_wait(), Ok(None))),
        }
    }
    println!("\nstopping the cluster...");
    // Restarts from other shells change pids: trust the state file, not our children.
    let mut cluster = ClusterState::load(dir)?;
    stop_and_report(dir, &mut cluster)?;
    for child in &mut children {
        let _ = child.wait();
    }
    Ok(())
}

/// Stops every node (and a detached cluster's dashboard), records it, and tells the user.
pub fn stop_and_report(dir: &Path, cluster: &mut ClusterState) -> anyhow::Result<()> {
    if let Some(dashboard) = cluster.dashboard.take() {
        dashboard_process::stop(&dashboard);
    }
    let killed = stop_all(cluster);
    cluster.save(dir)?;
    let forced = if killed > 0 {
        format!(" ({killed} needed SIGKILL)")
    } else {
        String::new()
    };
    println!("stopped {} nodes{forced}", cluster.nodes.len());
    Ok(())
}

/// Stops every node concurrently; returns how many needed SIGKILL.
pub fn stop_all(cluster: &mut ClusterState) -> usize {
    let stoppers: Vec<_> = cluster
        .nodes
        .iter()
        .map(|node| {
            let (pid, id) = (node.pid, node.id);
            std::thread::spawn(move || process::stop(pid, id, STOP_GRACE))
        })
        .collect();
    let forced = stoppers
        .into_iter()
        .map(|s| s.join().unwrap_or(false))
        .filter(|&killed| killed)
        .count();
    for node in &mut cluster.nodes {
        node.state = NodeState::Stopped;
    }
    forced
}

/// Stops node `id` if it runs and starts it again; says what it did.
pub fn restart_node(dir: &Path, id: u16) -> anyhow::Result<String> {
    let mut cluster = ClusterState::load(dir)?;
    let executable = cluster.executable.clone();
    let node = cluster.node_mut(id)?;
    process::stop(node.pid, node.id, STOP_GRACE);
    let child = spawn(&executable, node)?;
    node.pid = child.id();
    node.state = NodeState::Running;
    cluster.save(dir)?;
    block_on(wait_ready(&cluster, &[id], Duration::from_secs(30)))?;
    Ok(format!("node {id} restarted (pid {})", child.id()))
}
