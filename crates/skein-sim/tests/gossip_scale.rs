//! Gossip measurements on the lean scale driver
//! (`skein_sim::services::gossip::scale`): printed figures, not timed
//! assertions. The CI test runs 100 nodes; the full set is ignored:
//!
//! ```text
//! cargo test --release -p skein-sim --test gossip_scale -- --ignored --nocapture
//! ```
//!
//! Each prints a table: broadcast latency and messages per node per
//! broadcast for Plumtree vs plain flooding vs the original's TTL flooding;
//! failure-detector detection time and false positives at 5 % loss;
//! membership convergence after 10 % of the nodes crash.

use rand::seq::IteratorRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skein_core::NodeId;
use skein_gossip::{GossipConfig, MemberState};
use skein_sim::plot::{render, Axis, Chart, Panel, Series};
use skein_sim::services::gossip::baseline::{flood, random_graph, ttl_flood};
use skein_sim::services::gossip::scale::{NetModel, ScaleNet, BROADCAST_KINDS};

const SECOND: u64 = 1_000_000;
const LATENCY: (u64, u64) = (1_000, 10_000);

fn config() -> GossipConfig {
    GossipConfig::default()
}

/// Nodes each boots knowing in the runs past `FULL_VIEW_MAX` nodes (a
/// random subset; membership grows from there). Full views would be N²
/// member records: ~1.5 GB at 1,000 nodes, ~150 GB at 10,000.
const PARTIAL_VIEW: usize = 128;
const FULL_VIEW_MAX: u16 = 1_000;

/// Latency to the last node and per-node percentiles, in ms.
#[derive(Clone, Copy, Default)]
struct Spread {
    all_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Spread {
    /// `per_broadcast`: each node's delivery delay after the send, one list per broadcast.
    fn of(per_broadcast: &[Vec<u64>]) -> Self {
        let mut all: Vec<u64> = per_broadcast.iter().flatten().copied().collect();
        all.sort_unstable();
        let pick = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
        let last = per_broadcast
            .iter()
            .map(|b| *b.iter().max().expect("a broadcast reached someone") as f64)
            .sum::<f64>()
            / per_broadcast.len() as f64;
        Self {
            all_ms: last / 1e3,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
        }
    }
}

/// One row of the broadcast table.
struct BroadcastRow {
    n: u16,
    view: usize,
    plumtree_first_ms: f64,
    plumtree: Spread,
    plumtree_hops: u16,
    plumtree_payload_per_node: f64,
    plumtree_all_per_node: f64,
    plumtree_first_payload_per_node: f64,
    flood: Spread,
    flood_per_node: f64,
    ttl: Spread,
    ttl_per_node: f64,
    wall_s: f64,
}

fn measure_broadcast(n: u16, seed: u64, broadcasts: usize) -> BroadcastRow {
    assert!(broadcasts >= 2, "the first broadcast builds the tree");
    let started = std::time::Instant::now();
    let view = if n > FULL_VIEW_MAX {
        PARTIAL_VIEW
    } else {
        usize::from(n)
    };
    let mut net = ScaleNet::with_view(n, &config(), NetModel::default(), seed, view);
    net.run_until(2 * SECOND);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut delays, mut payload, mut all, mut hops) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for k in 0..broadcasts {
        let start = net.now_us;
        let before_payload = net.total_sent(&["gossip"]);
        let before_all = net.total_sent(&BROADCAST_KINDS);
        let origin = (0..usize::from(n)).choose(&mut rng).unwrap();
        let id = net.broadcast(origin, &format!("measurement {k}"));
        net.run_until(start + 2 * SECOND);
        let times = net.delivery_times(id);
        let missing = times.iter().filter(|t| t.is_none()).count();
        assert_eq!(
            missing, 0,
            "seed {seed}: {missing} of {n} nodes missed broadcast {k}"
        );
        hops = hops.max(times.iter().flatten().map(|(_, h)| *h).max().unwrap());
        // hops 0 is the origin, which delivers at once.
        delays.push(
            times
                .iter()
                .flatten()
                .filter(|(_, h)| *h > 0)
                .map(|(t, _)| t - start)
                .collect::<Vec<u64>>(),
        );
        payload.push((net.total_sent(&["gossip"]) - before_payload) as f64 / f64::from(n));
        all.push((net.total_sent(&BROADCAST_KINDS) - before_all) as f64 / f64::from(n));
    }
    drop(net);
    let steady = |v: &[f64]| v[1..].iter().sum::<f64>() / (v.len() - 1) as f64;
    let mut grng = ChaCha8Rng::seed_from_u64(seed);
    let graph = random_graph(usize::from(n), config().eager_fanout, &mut grng);
    let f = flood(&graph, 0, LATENCY, seed);
    assert_eq!(f.reached, usize::from(n));
    // TTL 2: the origin tells everyone it knows, each first receiver tells
    // everyone not in seen_by (the original's full view).
    let t = ttl_flood(usize::from(n), 0, 2, LATENCY, seed);
    assert_eq!(t.reached, usize::from(n));
    BroadcastRow {
        n,
        view: view.min(usize::from(n) - 1).min(config().members_max),
        plumtree_first_ms: Spread::of(&delays[..1]).all_ms,
        plumtree: Spread::of(&delays[1..]),
        plumtree_hops: hops,
        plumtree_payload_per_node: steady(&payload),
        plumtree_all_per_node: steady(&all),
        plumtree_first_payload_per_node: payload[0],
        flood: Spread::of(std::slice::from_ref(&f.delivery_us)),
        flood_per_node: f.messages as f64 / f64::from(n),
        ttl: Spread::of(std::slice::from_ref(&t.delivery_us)),
        ttl_per_node: t.messages as f64 / f64::from(n),
        wall_s: started.elapsed().as_secs_f64(),
    }
}

fn print_broadcast_table(rows: &[BroadcastRow]) {
    println!("\nbroadcast: latency (ms) to the last node, p50/p99 over (node, broadcast) deliveries; messages sent per node per broadcast");
    println!("(latency 1-10 ms per message; Plumtree = broadcasts 2..k, first = the one that builds the tree; view = members each node boots knowing)");
    println!("|      N | view | plumtree last (first) | p50 / p99 | hops | payload msgs/node (first) | all msgs/node | flood last | p50 / p99 | msgs/node | TTL-flood last | p50 / p99 | msgs/node | run s |");
    println!("|-------:|-----:|----------------------:|----------:|-----:|--------------------------:|--------------:|-----------:|----------:|----------:|---------------:|----------:|----------:|------:|");
    for r in rows {
        println!(
            "| {:>6} | {:>4} | {:>8.1} ({:>6.1}) | {:.1} / {:.1} | {:>4} | {:>9.2} ({:>5.2}) | {:>13.2} | {:>10.1} | {:.1} / {:.1} | {:>9.2} | {:>14.1} | {:.1} / {:.1} | {:>9.1} | {:>5.0} |",
            r.n, r.view, r.plumtree.all_ms, r.plumtree_first_ms, r.plumtree.p50_ms, r.plumtree.p99_ms,
            r.plumtree_hops, r.plumtree_payload_per_node, r.plumtree_first_payload_per_node,
            r.plumtree_all_per_node, r.flood.all_ms, r.flood.p50_ms, r.flood.p99_ms, r.flood_per_node,
            r.ttl.all_ms, r.ttl.p50_ms, r.ttl.p99_ms, r.ttl_per_node, r.wall_s
        );
    }
}

/// The two panels of `docs/gossip-scale.svg`.
fn plot(rows: &[BroadcastRow]) -> String {
    let line = |label: &str, colour, f: &dyn Fn(&BroadcastRow) -> f64| {
        Series::new(label, colour, rows.iter().map(|r| (f64::from(r.n), f(r))))
    };
    let latency = Panel {
        title: "Broadcast latency".into(),
        y: Axis::linear("ms after the send"),
        series: vec![
            line("Plumtree, last node", "#1f77b4", &|r| r.plumtree.all_ms),
            line("Plumtree, p50 node", "#1f77b4", &|r| r.plumtree.p50_ms).dashed("6,4"),
            line("flooding, last node", "#2ca02c", &|r| r.flood.all_ms),
            line("flooding, p50 node", "#2ca02c", &|r| r.flood.p50_ms).dashed("6,4"),
            line("TTL flooding, last node", "#d62728", &|r| r.ttl.all_ms),
            line("TTL flooding, p50 node", "#d62728", &|r| r.ttl.p50_ms).dashed("6,4"),
        ],
    };
    let messages = Panel {
        title: "Messages sent per node per broadcast".into(),
        y: Axis::log("messages (log)", 10.0),
        series: vec![
            line("Plumtree, payload copies", "#1f77b4", &|r| {
                r.plumtree_payload_per_node
            }),
            line("Plumtree, + IHAVE/GRAFT/PRUNE", "#1f77b4", &|r| {
                r.plumtree_all_per_node
            })
            .dashed("6,4"),
            line("flooding (degree 4)", "#2ca02c", &|r| r.flood_per_node),
            line("TTL flooding (TTL 2)", "#d62728", &|r| r.ttl_per_node),
        ],
    };
    let mut chart = Chart::new(Axis::log("nodes (log)", 10.0), vec![latency, messages]);
    chart.caption = Some(
        "skein gossip_scale: simulated, 1-10 ms per message, no loss; regenerate: \
         cargo test --release -p skein-sim --test gossip_scale -- --ignored --nocapture broadcast_table"
            .into(),
    );
    render(&chart)
}

/// False positives at 5 % loss over `span_s` seconds, then the time to
/// detect one crash (first suspicion anywhere, every live node says dead).
fn measure_failure_detector(n: u16, seed: u64, span_s: u64) {
    let net_model = NetModel {
        loss_ppm: 50_000,
        ..NetModel::default()
    };
    let mut net = ScaleNet::new(n, &config(), net_model, seed);
    net.run_until(span_s * SECOND);
    let pings = net.total_sent(&["ping"]);
    let suspicions: u64 = net
        .running()
        .map(|(_, g)| g.counters().suspicions_raised)
        .sum();
    let false_dead = net
        .running()
        .map(|(_, g)| {
            g.membership()
                .iter()
                .filter(|(_, m)| m.state == MemberState::Dead)
                .count()
        })
        .sum::<usize>();
    println!(
        "\nfailure detector, N = {n}, 5 % loss, {span_s} s: {pings} probes, {suspicions} false suspicions \
         ({:.3} % of probes), {false_dead} (node, peer) pairs falsely dead at the end",
        100.0 * suspicions as f64 / pings.max(1) as f64
    );
    let victim = usize::from(n) / 2;
    let victim_id = NodeId(victim as u16 + 1);
    let crashed_at = net.now_us;
    net.crash(victim);
    let (mut first, mut all) = (None, None);
    while all.is_none() && net.now_us < crashed_at + 60 * SECOND {
        let now = net.now_us;
        net.run_until(now + 100_000);
        let states: Vec<Option<MemberState>> =
            net.running().map(|(_, g)| g.state_of(victim_id)).collect();
        if first.is_none() && states.iter().any(|s| *s != Some(MemberState::Alive)) {
            first = Some(net.now_us - crashed_at);
        }
        if states
            .iter()
            .all(|s| matches!(s, Some(MemberState::Dead) | None))
        {
            all = Some(net.now_us - crashed_at);
        }
    }
    let ms = |v: Option<u64>| {
        v.map_or("never (60 s)".into(), |v| {
            format!("{:.1} s", v as f64 / 1e6)
        })
    };
    println!(
        "crash detection, N = {n}, 5 % loss: first suspicion after {}, every live node says dead after {} \
         (probe 1 s, suspicion timeout 5 s × max(1, log10 n), 100 ms sampling)",
        ms(first),
        ms(all)
    );
}

/// Crash 10 % of the nodes at once; time until every live node sees every
/// crashed node dead (or forgotten) and every live node alive.
fn measure_convergence_after_crashes(n: u16, seed: u64) {
    let mut net = ScaleNet::new(n, &config(), NetModel::default(), seed);
    net.run_until(2 * SECOND);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let victims: Vec<usize> = (0..usize::from(n)).choose_multiple(&mut rng, usize::from(n) / 10);
    for v in &victims {
        net.crash(*v);
    }
    let crashed_at = net.now_us;
    let mut converged = None;
    while converged.is_none() && net.now_us < crashed_at + 120 * SECOND {
        let now = net.now_us;
        net.run_until(now + 250_000);
        let live: Vec<NodeId> = net.running().map(|(_, g)| g.id()).collect();
        let ok = net.running().all(|(_, g)| {
            victims.iter().all(|v| {
                matches!(
                    g.state_of(NodeId(*v as u16 + 1)),
                    Some(MemberState::Dead) | None
                )
            }) && live
                .iter()
                .all(|id| *id == g.id() || g.state_of(*id) == Some(MemberState::Alive))
        });
        if ok {
            converged = Some(net.now_us - crashed_at);
        }
    }
    let false_suspicions: u64 = net.running().map(|(_, g)| g.counters().refutations).sum();
    println!(
        "\nmembership after {} of {n} nodes crash: converged after {} ({} refutations by live nodes)",
        victims.len(),
        converged.map_or("never (120 s)".into(), |v| format!("{:.2} s", v as f64 / 1e6)),
        false_suspicions
    );
    assert!(
        converged.is_some(),
        "seed {seed}: membership did not converge"
    );
}

/// CI: 100 nodes, a few broadcasts, each reaching every node; the plot
/// of the row draws.
#[test]
fn plumtree_covers_100_nodes_with_few_payload_copies() {
    let row = measure_broadcast(100, 1, 3);
    assert!(
        row.plumtree_payload_per_node < 1.5 && row.flood_per_node > 3.0,
        "Plumtree sends about one payload copy per node, flooding ~degree: {:.2} vs {:.2}",
        row.plumtree_payload_per_node,
        row.flood_per_node
    );
    let rows = [row];
    print_broadcast_table(&rows);
    assert_eq!(plot(&rows).matches("<polyline").count(), 10);
}

/// The failure detector and convergence at 300 nodes (a few minutes in release).
#[test]
#[ignore]
fn failure_detector_and_convergence_at_300_nodes() {
    measure_failure_detector(300, 7, 30);
    measure_convergence_after_crashes(300, 7);
}

#[test]
#[ignore]
fn measurements_at_1000_nodes() {
    let row = measure_broadcast(1_000, 7, 5);
    print_broadcast_table(&[row]);
    measure_failure_detector(1_000, 7, 30);
    measure_convergence_after_crashes(1_000, 7);
}

/// The table and plot of the README, 10 to 10,000 nodes; rewrites
/// `docs/gossip-scale.svg`. Up to 1,000 nodes every node knows every
/// other; above, each boots knowing a random `PARTIAL_VIEW`.
#[test]
#[ignore]
fn broadcast_table_10_to_10000_nodes() {
    let sizes: Vec<u16> = match std::env::var("SKEIN_GOSSIP_SCALE_SIZES") {
        Ok(list) => list.split(',').map(|n| n.trim().parse().unwrap()).collect(),
        Err(_) => vec![10, 30, 100, 300, 1_000, 3_000, 10_000],
    };
    let mut rows = Vec::new();
    for n in sizes {
        rows.push(measure_broadcast(n, 11, 6));
        print_broadcast_table(&rows[rows.len() - 1..]);
    }
    print_broadcast_table(&rows);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/gossip-scale.svg");
    std::fs::write(&path, plot(&rows)).unwrap();
    println!("wrote {}", path.display());
}
