//! Lookup hops vs ring size on the lean driver ([`super::scale`]): one
//! row per (N, start mode), printed as a table and drawn as an SVG plot.
//! `crates/skein-sim/tests/dht_scale.rs` runs them.

use super::scale::{config, successor_of, DhtScaleNet, StartMode};
use crate::lean::NetModel;
use crate::plot::{render, Axis, Chart, Marker, Panel, Point, Series};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use skein_dht::{Reply, Request, RingId};
use std::fmt::Write;

pub const SECOND_US: u64 = 1_000_000;

/// One measured ring.
#[derive(Clone, Debug)]
pub struct HopsRow {
    pub nodes: u16,
    pub mode: StartMode,
    pub lookups: usize,
    /// Lookups answered with the key's true successor.
    pub succeeded: usize,
    pub hops_mean: f64,
    pub hops_p50: u32,
    pub hops_p99: u32,
    pub hops_max: u32,
    /// `Joined`: virtual seconds from the first boot until every successor
    /// and predecessor was right (`None`: never within the limit).
    pub settled_s: Option<f64>,
    /// Finger entries that were the true node when the lookups started.
    pub fingers_correct: f64,
    /// Histogram of hops: `hops_histogram[h]` lookups took h hops.
    pub hops_histogram: Vec<usize>,
}

impl HopsRow {
    pub fn success_rate(&self) -> f64 {
        self.succeeded as f64 / self.lookups.max(1) as f64
    }

    pub fn half_log2(&self) -> f64 {
        0.5 * f64::from(self.nodes).log2()
    }
}

/// Builds a ring of `n` nodes, lets it settle, and times `lookups` lookups
/// from random nodes for random keys, issued over 2 virtual seconds (each
/// has `op_timeout_ms`, 3 s, to finish).
pub fn measure(n: u16, mode: StartMode, seed: u64, lookups: usize) -> HopsRow {
    let join_gap_us = 20_000;
    let mut net = DhtScaleNet::new(n, config(), mode, join_gap_us, NetModel::default(), seed);
    let settled_s = match mode {
        StartMode::Converged => {
            net.run_until(SECOND_US);
            None
        }
        StartMode::Joined => settle(&mut net, u64::from(n) * join_gap_us),
    };
    let fingers_correct = net.fingers_correct();
    let ring = net.ring();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x100c);
    let start = net.now_us;
    let mut asked = Vec::with_capacity(lookups);
    for j in 0..lookups {
        net.run_until(start + 2 * SECOND_US * j as u64 / lookups as u64);
        let from = usize::from(ring[rng.random_range(0..ring.len())].id.0) - 1;
        let key = format!("key-{seed}-{j}");
        let ring_id = RingId::of_key(&key);
        let id = net.request(from, Request::Lookup { key });
        asked.push((id, ring_id));
    }
    net.run_until(start + 6 * SECOND_US);
    let mut hops = Vec::new();
    for (id, key) in asked {
        let truth = successor_of(&ring, key).id;
        if let Some(Reply::Lookup(found)) = net.replies.get(&id) {
            if found.node.id == truth {
                hops.push(found.hops);
            }
        }
    }
    hops.sort_unstable();
    let pct = |p: f64| {
        hops.get(((hops.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    let max = hops.last().copied().unwrap_or(0);
    let mut hist = vec![0; max as usize + 1];
    for &h in &hops {
        hist[h as usize] += 1;
    }
    HopsRow {
        nodes: n,
        mode,
        lookups,
        succeeded: hops.len(),
        hops_mean: hops.iter().map(|&h| f64::from(h)).sum::<f64>() / hops.len().max(1) as f64,
        hops_p50: pct(0.5),
        hops_p99: pct(0.99),
        hops_max: max,
        settled_s,
        fingers_correct,
        hops_histogram: hist,
    }
}

/// Runs a joined ring until every node has booted and its successors and
/// predecessors are right (checked every virtual second, up to 20 minutes),
/// then 5 + log2 N seconds more for fix-fingers (a pass fixes about log2 N
/// fingers, one per 100 ms tick). Returns when it settled.
fn settle(net: &mut DhtScaleNet, boots_us: u64) -> Option<f64> {
    let limit_us = boots_us + 1_200 * SECOND_US;
    let mut t = boots_us;
    let settled = loop {
        t += SECOND_US;
        net.run_until(t);
        if net.ring_is_correct() {
            break Some(t as f64 / 1e6);
        }
        if t >= limit_us {
            break None;
        }
    };
    let fingers_s = 5 + u64::from(usize::BITS - net.nodes.len().leading_zeros());
    net.run_until(t + fingers_s * SECOND_US);
    settled
}

pub fn table(rows: &[HopsRow]) -> String {
    let mut out = String::new();
    out.push_str("|      N | start    | lookups | success | mean hops | p50 | p99 | max | ½·log2 N | log2 N | fingers right | settled (virtual s) |\n");
    out.push_str("|-------:|----------|--------:|--------:|----------:|----:|----:|----:|---------:|-------:|--------------:|--------------------:|\n");
    for r in rows {
        let settled = r.settled_s.map_or("-".to_string(), |s| format!("{s:.0}"));
        let _ = writeln!(
            out,
            "| {:>6} | {:<8} | {:>7} | {:>6.2}% | {:>9.2} | {:>3} | {:>3} | {:>3} | {:>8.2} | {:>6.2} | {:>12.1}% | {:>19} |",
            r.nodes,
            r.mode.name(),
            r.lookups,
            100.0 * r.success_rate(),
            r.hops_mean,
            r.hops_p50,
            r.hops_p99,
            r.hops_max,
            r.half_log2(),
            2.0 * r.half_log2(),
            100.0 * r.fingers_correct,
            settled
        );
    }
    out
}

/// Mean, p50 and p99 hops against N (log scale), with ½·log2 N for
/// reference; joined rings are circles, snapshot-started ones squares.
pub fn svg(rows: &[HopsRow], title: &str) -> String {
    let mut sorted: Vec<&HopsRow> = rows.iter().collect();
    sorted.sort_by_key(|r| (r.nodes, r.mode == StartMode::Converged));
    let line = |label: &str, colour, dash, value: fn(&HopsRow) -> f64| Series {
        label: label.into(),
        colour,
        dash,
        points: sorted
            .iter()
            .map(|r| Point {
                x: f64::from(r.nodes),
                y: value(r),
                marker: match r.mode {
                    StartMode::Joined => Marker::Circle,
                    StartMode::Converged => Marker::Square,
                },
            })
            .collect(),
    };
    let hops = Panel {
        title: "lookup hops".into(),
        y: Axis::linear("hops"),
        series: vec![
            line("p99", "#d62728", Some("2,3"), |r| f64::from(r.hops_p99)),
            line("mean", "#1f77b4", None, |r| r.hops_mean),
            line("p50", "#2ca02c", Some("6,3"), |r| f64::from(r.hops_p50)),
            line("½·log2 N", "#888888", Some("1,4"), HopsRow::half_log2),
        ],
    };
    let mut chart = Chart::new(Axis::log("nodes N (log scale)", 2.0), vec![hops]);
    chart.title = Some(title.into());
    chart.caption = Some("● joined ring   ■ ring started from a converged snapshot".into());
    chart.plot_size = (600.0, 300.0);
    render(&chart)
}

/// Lookups under churn on the lean driver.
#[derive(Clone, Debug)]
pub struct ChurnRow {
    pub nodes: u16,
    pub crashes: usize,
    pub joins: usize,
    pub lookups: usize,
    /// Answered with the key's successor among the members at that moment.
    pub correct: usize,
    /// Answered with another node (the ring had not caught up yet).
    pub wrong: usize,
    /// Failed or timed out.
    pub failed: usize,
    pub hops_mean: f64,
}

/// `n` nodes from snapshots; for `seconds`, every `churn_interval_us` one
/// random node crashes and a new node joins (through node 1, which is
/// spared), while every 100 ms 10 lookups start at random members. A lookup
/// is judged when its answer arrives, against the running members then.
pub fn measure_churn(n: u16, seed: u64, seconds: u64, churn_interval_us: u64) -> ChurnRow {
    let mut net = DhtScaleNet::new(
        n,
        config(),
        StartMode::Converged,
        0,
        NetModel::default(),
        seed,
    );
    net.run_until(SECOND_US);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0de);
    let start = net.now_us;
    let end = start + seconds * SECOND_US;
    let mut next_churn = start + churn_interval_us;
    let mut pending: Vec<(u64, RingId)> = Vec::new();
    let mut row = ChurnRow {
        nodes: n,
        crashes: 0,
        joins: 0,
        lookups: 0,
        correct: 0,
        wrong: 0,
        failed: 0,
        hops_mean: 0.0,
    };
    let mut hops_sum = 0u64;
    let mut k = 0u64;
    let mut t = start;
    while t < end + 4 * SECOND_US {
        if t < end {
            if t >= next_churn {
                next_churn += churn_interval_us;
                let victims: Vec<usize> =
                    net.running().map(|(i, _)| i).filter(|&i| i != 0).collect();
                net.crash(victims[rng.random_range(0..victims.len())]);
                net.add_node();
                row.crashes += 1;
                row.joins += 1;
            }
            let members = net.ring();
            for _ in 0..10 {
                k += 1;
                let from = usize::from(members[rng.random_range(0..members.len())].id.0) - 1;
                let key = format!("churn-{seed}-{k}");
                let ring_id = RingId::of_key(&key);
                pending.push((net.request(from, Request::Lookup { key }), ring_id));
                row.lookups += 1;
            }
        }
        t += 100_000;
        net.run_until(t);
        let members = net.ring();
        pending.retain(|(id, key)| match net.replies.remove(id) {
            None => true,
            Some(Reply::Lookup(found)) => {
                if found.node.id == successor_of(&members, *key).id {
                    row.correct += 1;
                    hops_sum += u64::from(found.hops);
                } else {
                    row.wrong += 1;
                }
                false
            }
            Some(_) => {
                row.failed += 1;
                false
            }
        });
    }
    row.failed += pending.len();
    row.hops_mean = hops_sum as f64 / row.correct.max(1) as f64;
    row
}
