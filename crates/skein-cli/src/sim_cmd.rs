//! `skein sim`: run the deterministic simulator on one seed, or sweep a range
//! of seeds with a progress bar, printing each failing seed with the one
//! command that replays it. All simulation lives in `skein-sim`; this file
//! only parses flags, writes the optional trace file and measures real time.

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use skein_sim::byzantine::ByzantineSpec;
use skein_sim::services::{self, RunOptions, DEFAULT_CLIENTS, DEFAULT_STEPS};
use skein_sim::trace::TraceEvent;
use skein_sim::{FaultSet, RunReport};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The most seeds one sweep runs; split larger sweeps into several commands.
const SEEDS_MAX: u64 = 10_000_000;

#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// Service to simulate; `--list` shows them all.
    #[arg(long, default_value = "heartbeat")]
    pub service: String,
    /// Cluster size (default: the service's, 5; bftlist 6 = 5f+1).
    #[arg(long)]
    pub nodes: Option<u16>,
    /// Seed of a single run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sweep seeds instead: `1..1000` (end excluded) or `1..=1000`.
    #[arg(long, value_parser = parse_seeds, conflicts_with_all = ["seed", "trace"])]
    pub seeds: Option<Range<u64>>,
    /// Events to simulate per seed.
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    pub steps: u64,
    /// Faults the nemesis injects: comma list of partitions, crashes, pauses,
    /// clocks, corruptions, network, byzantine; or `all` / `none`.
    #[arg(long, default_value = "none")]
    pub faults: FaultSet,
    /// Byzantine nodes, NODE:BEHAVIOUR[=PARAM] comma list, e.g. `2:silent,5:twins`.
    #[arg(long, value_delimiter = ',')]
    pub byzantine: Vec<ByzantineSpec>,
    /// Plant a test-only bug in the service's core (see `--list`).
    #[arg(long)]
    pub inject_bug: Option<String>,
    /// Simulated clients.
    #[arg(long, default_value_t = DEFAULT_CLIENTS)]
    pub clients: u32,
    /// Open-loop clients issuing this many operations per second each
    /// (default: closed loop, one operation at a time).
    #[arg(long, value_name = "OPS_PER_SEC")]
    pub open_loop: Option<u32>,
    /// Write every event of a single run as JSON lines to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// List services with their injectable bugs and Byzantine behaviours.
    #[arg(long)]
    pub list: bool,
}

/// Parses `A..B` or `A..=B`.
fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let (start, end, inclusive) = match (s.split_once("..="), s.split_once("..")) {
        (Some((a, b)), _) => (a, b, true),
        (None, Some((a, b))) => (a, b, false),
        _ => return Err(format!("`{s}` is not a range like 1..1000")),
    };
    let parse = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("`{v}` is not a seed"))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    let end = if inclusive {
        end.saturating_add(1)
    } else {
        end
    };
    if start >= end || end - start > SEEDS_MAX {
        return Err(format!(
            "seed range `{s}` must be non-empty and at most {SEEDS_MAX} seeds"
        ));
    }
    Ok(start..end)
}

impl SimArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            service: self.service.clone(),
            nodes: self
                .nodes
                .unwrap_or_else(|| RunOptions::new(&self.service).nodes),
            seed: self.seed,
            steps: self.steps,
            faults: self.faults.clone(),
            byzantine: self.byzantine.clone(),
            inject_bug: self.inject_bug.clone(),
            clients: self.clients,
            open_loop_ops_per_sec: self.open_loop,
        }
    }
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        list();
        return Ok(ExitCode::SUCCESS);
    }
    services::find(&args.service)?;
    let opts = args.options();
    let passed = match args.seeds.clone() {
        Some(seeds) => sweep(&opts, seeds)?,
        None => single(&opts, args.trace.as_ref())?,
    };
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list() {
    for s in services::SERVICES {
        let bugs = if s.bugs.is_empty() {
            "none".to_string()
        } else {
            s.bugs.join(", ")
        };
        println!("{:<10} {}", s.name, s.about);
        println!("{:<10}   --inject-bug: {bugs}", "");
        println!(
            "{:<10}   --byzantine NODE:{}",
            "",
            (s.behaviours)().join("|")
        );
    }
}

fn rate(events: u64, real: Duration) -> String {
    let per_sec = events as f64 / real.as_secs_f64().max(1e-9);
    format!("{:.2} M events/s", per_sec / 1e6)
}

fn single(opts: &RunOptions, trace: Option<&PathBuf>) -> anyhow::Result<bool> {
    let mut writer = match trace {
        Some(path) => {
            Some(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create trace file {}", path.display())
            })?))
        }
        None => None,
    };
    let mut write_error: Option<std::io::Error> = None;
    let started = Instant::now();
    let report: RunReport = {
        let sink = writer.as_mut().map(|w| {
            let error = &mut write_error;
            Box::new(move |event: &TraceEvent| {
                if error.is_none() {
                    let line = serde_json::to_string(event).expect("trace events serialize");
                    if let Err(e) = writeln!(w, "{line}") {
                        *error = Some(e);
                    }
                }
            }) as skein_sim::trace::TraceSink<'_>
        });
        services::run(opts, sink)?
    };
    let real = started.elapsed();
    if let Some(e) = write_error {
        bail!("writing the trace failed: {e}");
    }
    if let (Some(w), Some(path)) = (writer.as_mut(), trace) {
        w.flush()
            .with_context(|| format!("cannot write trace file {}", path.display()))?;
    }
    println!("{report}");
    println!(
        "real time {:.3} s · {}",
        real.as_secs_f64(),
        rate(report.stats.events, real)
    );
    Ok(report.passed())
}

fn sweep(opts: &RunOptions, seeds: Range<u64>) -> anyhow::Result<bool> {
    let bar = ProgressBar::new(seeds.end - seeds.start);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds · {msg} · eta {eta}")
            .expect("valid template"),
    );
    let started = Instant::now();
    let (mut events, mut failed) = (0u64, 0u64);
    let summary = services::sweep(opts, seeds.clone(), |report| {
        events += report.stats.events;
        if let Some(reason) = report.first_failure() {
            failed += 1;
            bar.println(format!(
                "seed {} FAILED: {reason}\n  {}",
                report.seed, report.replay
            ));
        }
        bar.set_message(format!("{failed} failed"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let real = started.elapsed();
    println!(
        "{} seeds {}..{} of {}: {} passed, {} failed · {} events in {:.3} s · {}",
        summary.seeds_run,
        seeds.start,
        seeds.end,
        opts.service,
        summary.seeds_run - summary.failures.len() as u64,
        summary.failures.len(),
        events,
        real.as_secs_f64(),
        rate(events, real)
    );
    for f in &summary.failures {
        println!("FAIL {f}");
    }
    Ok(summary.failures.is_empty())
}
