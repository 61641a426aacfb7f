//! `skein bench`: a load generator for the services' REST APIs.
//!
//! ```text
//!  args ──plan──▶ target (--api | --dir | --spawn) ──▶ workload (raft | bftlist | dht | gossip | heartbeat | etcd)
//!                                                        │ one Client per concurrent client
//!   phases: [prefill (raft, dht get)] → [warmup] → measured ▼
//!   driver: closed_loop (N back to back) | open_loop (--rate, latency from the due time)
//!                                                        │ every completion
//!                                                        ▼
//!                         recorder (HdrHistogram, windows, errors) ──▶ report (text, --json) ──▶ plot (--plot)
//! ```
//!
//! Every phase is bounded by a request count **and** a deadline, and Ctrl-C
//! stops starting requests (the report covers what completed). In-flight
//! requests end within `--timeout-ms`.
//!
//! Start at [`args`] (flags and limits), then [`closed_loop`] / [`open_loop`].

pub mod args;
pub mod closed_loop;
pub mod open_loop;
pub mod phase;
pub mod plot;
pub mod recorder;
pub mod report;
pub mod target;
pub mod workload;

use anyhow::Context;
use args::{BenchArgs, Op, Plan, Service, TargetKind};
use indicatif::{ProgressBar, ProgressStyle};
use phase::Phase;
use recorder::Recorder;
use report::{Report, Settings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{
    bftlist::BftListWorkload, dht::DhtWorkload, etcd::EtcdWorkload, gossip::GossipWorkload,
    heartbeat::HeartbeatWorkload, raft::RaftWorkload, redis::RedisWorkload, Workload,
};

/// Keys written before a `get` run at most (the rest of the key space reads as 404s).
pub const PREFILL_KEYS_MAX: u64 = 100_000;
/// The prefill's own deadline.
pub const PREFILL_TIMEOUT: Duration = Duration::from_secs(120);

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let command = report::command_line(std::env::args());
    args.check_limits()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let stop = Arc::new(AtomicBool::new(false));
    // Catch Ctrl-C before anything is booted, so a spawned cluster is always stopped.
    runtime.block_on(stop_on_signals(stop.clone()))?;
    let (plan, target, spawned) = match args.spawn {
        Some(nodes) => {
            let plan = args.plan(None)?;
            let cluster = target::SpawnedCluster::up(plan.service, nodes, args.port_offset)?;
            (plan, cluster.target()?, Some(cluster))
        }
        None => {
            let target = target::resolve(&args)?;
            (args.plan(target.service)?, target, None)
        }
    };
    let (recorder, stopped_by) =
        runtime.block_on(execute(&plan, &target.apis, &target.signer, &stop))?;
    drop(spawned);
    let settings = Settings {
        command,
        service: plan.target.name().unwrap_or(plan.service.name()).into(),
        op: plan.op.name().into(),
        clients: plan.clients,
        rate_per_sec: plan.rate_per_sec,
        apis: target.apis,
        stopped_by,
    };
    let report = Report::new(settings, &recorder);
    print!("{}", report.text());
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, plot::svg(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.ok == 0 {
        anyhow::bail!("no request succeeded; is the cluster running and of this service?");
    }
    Ok(())
}

async fn stop_on_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("stopping: no new requests; waiting for those in flight");
        stop.store(true, Ordering::Relaxed);
    });
    Ok(())
}

/// Runs the plan's workload; returns what was measured and why it ended.
async fn execute(
    plan: &Plan,
    apis: &[String],
    signer: &crate::client_auth::Signer,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(Recorder, String)> {
    anyhow::ensure!(!apis.is_empty(), "the cluster lists no nodes");
    let apis = apis.to_vec();
    match plan.service {
        Service::Raft if plan.target == TargetKind::Etcd => {
            let etcd = |op, sequential| EtcdWorkload {
                apis: apis.clone(),
                op,
                key_space: plan.key_space,
                value: workload::value_of_size(plan.value_bytes),
                timeout: plan.timeout,
                sequential,
            };
            workload::etcd::wait_for_leader(&apis, plan.timeout).await?;
            key_value_run(etcd, plan, stop).await
        }
        Service::Raft if plan.target == TargetKind::Redis => {
            let address = workload::redis::address_of(&apis[0])
                .with_context(|| format!("{}: expected redis://HOST:PORT", apis[0]))?;
            let redis = |op, sequential| RedisWorkload {
                address: address.clone(),
                op,
                key_space: plan.key_space,
                value: workload::value_of_size(plan.value_bytes),
                timeout: plan.timeout,
                sequential,
            };
            workload::redis::wait_until_ready(&address, plan.timeout).await?;
            key_value_run(redis, plan, stop).await
        }
        Service::Raft => {
            let raft = |op, sequential| RaftWorkload {
                apis: apis.clone(),
                op,
                key_space: plan.key_space,
                value: workload::value_of_size(plan.value_bytes),
                timeout: plan.timeout,
                sequential,
            };
            workload::raft::wait_for_leader(&apis, plan.timeout).await?;
            key_value_run(raft, plan, stop).await
        }
        Service::Bftlist => {
            let workload = BftListWorkload::new(apis, plan.op, plan.timeout, signer.clone());
            Ok(drive(Arc::new(workload), plan, stop).await)
        }
        Service::Dht => {
            let dht = |op, sequential| DhtWorkload {
                apis: apis.clone(),
                op,
                key_space: plan.key_space,
                value: workload::value_of_size(plan.value_bytes),
                timeout: plan.timeout,
                sequential,
            };
            workload::dht::wait_for_ring(&apis, plan.timeout).await?;
            key_value_run(dht, plan, stop).await
        }
        Service::Gossip => {
            let payload = workload::value_of_size(plan.value_bytes);
            let workload =
                GossipWorkload::start(apis, payload, plan.timeout, plan.gossip_until).await?;
            Ok(drive(Arc::new(workload), plan, stop).await)
        }
        Service::Heartbeat => {
            let text = workload::value_of_size(plan.value_bytes);
            let workload = HeartbeatWorkload::new(apis, text, plan.timeout);
            Ok(drive(Arc::new(workload), plan, stop).await)
        }
    }
}

/// Writes keys `0..key_space` once (so that gets find them), unmeasured.
/// A key-value workload's run: `make(op, sequential)` builds the workload;
/// gets first need keys to find, so a sequential put pass writes them.
async fn key_value_run<W: Workload>(
    make: impl Fn(Op, bool) -> W,
    plan: &Plan,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(Recorder, String)> {
    if plan.op == Op::Get {
        prefill(Arc::new(make(Op::Put, true)), plan, stop).await?;
    }
    Ok(drive(Arc::new(make(plan.op, false)), plan, stop).await)
}

async fn prefill<W: Workload>(
    workload: Arc<W>,
    plan: &Plan,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let keys = plan.key_space.min(PREFILL_KEYS_MAX);
    eprintln!("writing {keys} keys first…");
    let clients = (0..plan.clients).map(|i| workload.client(i)).collect();
    let recorder = Arc::new(Mutex::new(Recorder::new(Instant::now())));
    let phase = Phase {
        recorder: Some(recorder.clone()),
        ..Phase::new(keys, PREFILL_TIMEOUT, stop.clone())
    };
    closed_loop::run(&workload, clients, &phase).await;
    let recorder = recorder.lock().expect("not poisoned");
    if recorder.errors_total() > 0 || recorder.ok < keys {
        anyhow::bail!(
            "writing the key space failed: {} of {keys} written, errors {:?}",
            recorder.ok,
            recorder.errors
        );
    }
    Ok(())
}

/// Warmup (unmeasured), then the measured phase, with the plan's driver.
async fn drive<W: Workload>(
    workload: Arc<W>,
    plan: &Plan,
    stop: &Arc<AtomicBool>,
) -> (Recorder, String) {
    let mut clients: Vec<W::Client> = (0..plan.clients).map(|i| workload.client(i)).collect();
    if !plan.warmup.is_zero() {
        let warmup = Phase::new(args::REQUESTS_MAX, plan.warmup, stop.clone());
        clients = drive_phase(&workload, clients, plan, &warmup).await;
    }
    let recorder = Arc::new(Mutex::new(Recorder::new(Instant::now())));
    let phase = Phase {
        recorder: Some(recorder.clone()),
        progress: progress_bar(plan),
        ..Phase::new(plan.requests, plan.duration, stop.clone())
    };
    drive_phase(&workload, clients, plan, &phase).await;
    phase.progress.finish_and_clear();
    let recorder = std::mem::replace(
        &mut *recorder.lock().expect("not poisoned"),
        Recorder::new(Instant::now()),
    );
    let completed = recorder.ok + recorder.errors_total();
    let stopped_by = if stop.load(Ordering::Relaxed) {
        "interrupted"
    } else if completed >= plan.requests {
        "requests"
    } else {
        "duration"
    };
    (recorder, stopped_by.into())
}

async fn drive_phase<W: Workload>(
    workload: &Arc<W>,
    clients: Vec<W::Client>,
    plan: &Plan,
    phase: &Phase,
) -> Vec<W::Client> {
    match plan.rate_per_sec {
        Some(rate) => open_loop::run(workload, clients, rate, phase).await,
        None => closed_loop::run(workload, clients, phase).await,
    }
}

/// On stderr, and only when it is a terminal.
fn progress_bar(plan: &Plan) -> ProgressBar {
    let bar = ProgressBar::new(plan.requests);
    let template = format!(
        "{{elapsed:>4}} of {}s [{{bar:30}}] {{pos}}/{{len}} {{per_sec}}",
        plan.duration.as_secs()
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
