//! The dht's checks. After every step (cheap): no stored version ever goes
//! backwards on a node (LWW merging). Once the ring has had time to
//! stabilize after the faults stop: the live nodes form one ring in id
//! order, every acknowledged write is held by r live nodes at its version
//! or later, and a lookup of any key from every node ends at the key's true
//! successor. The last check also measures hops and the size estimate error
//! into a [`RingReport`].

use super::workload::Ledger;
use crate::check::{check_fn, Check, ClusterView};
use skein_core::NodeId;
use skein_dht::{Dht, RingId, Route, Version};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Random keys looked up from every node, besides the acknowledged ones.
const PROBE_KEYS: usize = 16;
/// A walked lookup longer than this counts as a routing loop.
const WALK_HOPS_MAX: u32 = 64;

/// What the stabilized ring looked like.
#[derive(Clone, Debug, Default)]
pub struct RingReport {
    pub live_nodes: usize,
    /// Hops of every walked lookup (every node × every checked key).
    pub hops: Vec<u32>,
    pub keys_checked: usize,
    /// Acknowledged keys no live node holds at the acknowledged version.
    pub keys_lost: Vec<String>,
    /// Acknowledged keys on fewer than min(r, live) live nodes.
    pub keys_under_replicated: Vec<String>,
    /// Mean |estimate − live| / live over the nodes' size estimates.
    pub size_error_mean: f64,
}

impl RingReport {
    pub fn hops_mean(&self) -> f64 {
        self.hops.iter().map(|&h| f64::from(h)).sum::<f64>() / self.hops.len().max(1) as f64
    }

    pub fn hops_percentile(&self, p: f64) -> u32 {
        let mut sorted = self.hops.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(at).copied().unwrap_or(0)
    }
}

/// Per step: versions on the stepped node only grow (a key may vanish when
/// the node crashes or leaves).
pub fn versions_never_go_back() -> Box<dyn Check<Dht>> {
    let mut seen: BTreeMap<(usize, String), Version> = BTreeMap::new();
    check_fn(
        "dht: stored versions never go backwards",
        move |view: &ClusterView<'_, Dht>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let store = node.core.network_store();
            seen.retain(|(inst, key), _| *inst != node.instance || store.get(key).is_some());
            for (_, item) in store.iter() {
                let slot = seen
                    .entry((node.instance, item.key.clone()))
                    .or_insert(item.version);
                if item.version < *slot {
                    return Err(format!(
                        "node {} holds {} at {:?} after {:?}",
                        node.id, item.key, item.version, slot
                    ));
                }
                *slot = item.version;
            }
            Ok(())
        },
    )
}

/// Once stable: one ring, r replicas of every acknowledged write, lookups agree.
pub fn ring_is_whole(ledger: Rc<RefCell<Ledger>>) -> Box<dyn Check<Dht>> {
    check_fn(
        "dht: after stabilization one ring, r replicas per key, lookups agree",
        move |view: &ClusterView<'_, Dht>| {
            let cores: BTreeMap<NodeId, &Dht> = view.honest().map(|n| (n.id, n.core)).collect();
            let report = examine(&cores, &ledger.borrow())?;
            let lost = report.keys_lost.clone();
            let under = report.keys_under_replicated.clone();
            ledger.borrow_mut().ring = Some(report);
            if !lost.is_empty() {
                return Err(format!("acknowledged writes lost: {lost:?}"));
            }
            if !under.is_empty() {
                return Err(format!("keys on fewer than r live nodes: {under:?}"));
            }
            Ok(())
        },
    )
}

/// One node's own view of its place, for a failure message: enough to tell
/// a node that was never told of a neighbour from one that forgot it.
fn neighbourhood(cores: &BTreeMap<NodeId, &Dht>, id: NodeId) -> String {
    let dht = cores[&id];
    let routing = dht.routing();
    let status = dht.status_now();
    let successors: Vec<NodeId> = routing.successors.iter().map(|n| n.id).collect();
    format!(
        "node {id} sees predecessor {:?}, successors {successors:?}, rpc timeouts {}, forgot {}",
        routing.predecessor.as_ref().map(|p| p.id),
        status.counters.rpc_timeouts,
        status.counters.nodes_forgotten,
    )
}

/// Where following successors from `id` leads, with each node's predecessor:
/// shows whether a node that nobody points at hangs off the ring or loops.
fn successor_chain(cores: &BTreeMap<NodeId, &Dht>, id: NodeId) -> String {
    let mut at = id;
    let mut chain = Vec::new();
    for _ in 0..6 {
        let routing = cores[&at].routing();
        let pred = routing.predecessor.as_ref().map(|p| p.id.0);
        chain.push(format!(
            "{at}(pred {pred:?}, ring {})",
            &cores[&at].me().ring.to_hex()[..8]
        ));
        match routing.successors.first() {
            Some(next) if cores.contains_key(&next.id) => at = next.id,
            _ => break,
        }
    }
    format!("chain from {id}: {}", chain.join(" -> "))
}

fn examine(cores: &BTreeMap<NodeId, &Dht>, ledger: &Ledger) -> Result<RingReport, String> {
    if let Some((id, dht)) = cores.iter().find(|(_, d)| !d.is_member()) {
        return Err(format!("node {id} is {:?}, not a ring member", dht.state()));
    }
    let mut order: Vec<(RingId, NodeId)> = cores.iter().map(|(id, d)| (d.me().ring, *id)).collect();
    order.sort();
    let n = order.len();
    for (i, (_, id)) in order.iter().enumerate() {
        let next = order[(i + 1) % n].1;
        let prev = order[(i + n - 1) % n].1;
        let routing = cores[id].routing();
        let succ = routing.successor().id;
        let pred = routing.predecessor.as_ref().map(|p| p.id);
        if n > 1 && (succ != next || pred != Some(prev)) {
            return Err(format!(
                "node {id}: successor {succ} (want {next}), predecessor {pred:?} (want {prev}); \
                 {}; {}; {}; {}",
                neighbourhood(cores, *id),
                neighbourhood(cores, next),
                neighbourhood(cores, prev),
                successor_chain(cores, next),
            ));
        }
    }
    let replicas_wanted =
        usize::from(cores.values().next().map_or(1, |d| d.config().replicas)).min(n);
    let mut report = RingReport {
        live_nodes: n,
        ..RingReport::default()
    };
    for (key, (version, _)) in &ledger.acked {
        let holders = cores
            .values()
            .filter(|d| {
                d.network_store()
                    .version(key)
                    .is_some_and(|v| v >= *version)
            })
            .count();
        if holders == 0 {
            report.keys_lost.push(key.clone());
        } else if holders < replicas_wanted {
            report.keys_under_replicated.push(key.clone());
        }
    }
    let mut keys: Vec<String> = ledger.acked.keys().cloned().collect();
    keys.extend((0..PROBE_KEYS).map(|i| format!("probe-{i}")));
    report.keys_checked = keys.len();
    for key in &keys {
        let ring = RingId::of_key(key);
        let owner = order
            .iter()
            .find(|(r, _)| *r >= ring)
            .unwrap_or(&order[0])
            .1;
        for &from in cores.keys() {
            let (found, hops) = walk_lookup(cores, from, ring)?;
            if found != owner {
                return Err(format!(
                    "lookup of {key} from node {from} ends at {found}, but {owner} is responsible"
                ));
            }
            report.hops.push(hops);
        }
    }
    let errors: f64 = cores
        .values()
        .map(|d| (d.routing().size_estimate().nodes - n as f64).abs() / n as f64)
        .sum();
    report.size_error_mean = errors / n as f64;
    Ok(report)
}

/// Walks an iterative lookup through the cores' routing tables the way
/// `skein_dht::lookup` does: a dead node is avoided and the walk goes on
/// from the origin's table.
pub fn walk_lookup(
    cores: &BTreeMap<NodeId, &Dht>,
    from: NodeId,
    key: RingId,
) -> Result<(NodeId, u32), String> {
    let origin = cores[&from];
    let mut avoid = BTreeSet::new();
    let mut hops = 0;
    let mut step = origin.routing().route(key, &avoid);
    loop {
        match step {
            Route::Found(nodes) => {
                let id = nodes[0].id;
                return match cores.contains_key(&id) {
                    true => Ok((id, hops)),
                    false => Err(format!("lookup from {from} names dead node {id}")),
                };
            }
            Route::Closer(next) => {
                hops += 1;
                if hops > WALK_HOPS_MAX {
                    return Err(format!("lookup from {from} loops ({hops} hops)"));
                }
                step = match cores.get(&next.id) {
                    None => {
                        avoid.insert(next.id);
                        origin.routing().route(key, &avoid)
                    }
                    Some(node) => match node.routing().route(key, &BTreeSet::new()) {
                        Route::Closer(n) if n.id == from => {
                            node.routing().route(key, &BTreeSet::from([from]))
                        }
                        other => other,
                    },
                };
            }
        }
    }
}
