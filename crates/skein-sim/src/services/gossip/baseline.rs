//! The two baselines gossip's broadcast is measured against, on the same
//! latency model as [`super::scale`] (test code, not part of the core):
//!
//! * plain flooding: on first receipt, forward to every neighbour but the
//!   sender, over a random graph of the given degree;
//! * the original's TTL flooding (pychain): every node knows every peer;
//!   a message carries a TTL and a `seen_by` list; a receiver that has not
//!   seen it adds itself and forwards to every known peer not in `seen_by`
//!   while the TTL lasts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// What one broadcast cost and how fast it covered the nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct FloodResult {
    pub reached: usize,
    pub messages: u64,
    /// Bytes of `seen_by` lists carried (2 bytes per id), TTL flooding only.
    pub seen_by_bytes: u64,
    pub last_delivery_us: u64,
    pub max_hops: u32,
    /// When each reached node but the origin got its first copy, in arrival order.
    pub delivery_us: Vec<u64>,
}

/// A random undirected graph where every node has at least `degree` neighbours.
pub fn random_graph(n: usize, degree: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut adj: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    for a in 0..n {
        while adj[a].len() < degree.min(n - 1) {
            let b = rng.random_range(0..n);
            if b != a {
                adj[a].insert(b);
                adj[b].insert(a);
            }
        }
    }
    adj.into_iter().map(|s| s.into_iter().collect()).collect()
}

/// Plain flooding of one message from `origin` over `graph`.
pub fn flood(
    graph: &[Vec<usize>],
    origin: usize,
    latency_us: (u64, u64),
    seed: u64,
) -> FloodResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    run(
        graph.len(),
        origin,
        latency_us,
        &mut rng,
        |node, from, _seen_by, _ttl| {
            graph[node]
                .iter()
                .copied()
                .filter(|p| Some(*p) != from)
                .collect()
        },
        u32::MAX,
    )
}

/// pychain's TTL flooding over a full view. Charitable to the original: a
/// node forwards only its first copy (its TODO list says duplicates were
/// re-flooded "A LOT"), so these counts are a lower bound.
pub fn ttl_flood(
    n: usize,
    origin: usize,
    ttl: u32,
    latency_us: (u64, u64),
    seed: u64,
) -> FloodResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    run(
        n,
        origin,
        latency_us,
        &mut rng,
        |node, _from, seen_by, _ttl| {
            (0..n)
                .filter(|p| *p != node && !seen_by.contains(p))
                .collect()
        },
        ttl,
    )
}

/// (arrival µs, send order, to, from, hops, seen_by) of one message.
type InFlight = (u64, u64, usize, usize, u32, Vec<usize>);

fn run(
    n: usize,
    origin: usize,
    (lat_min, lat_max): (u64, u64),
    rng: &mut ChaCha8Rng,
    mut targets: impl FnMut(usize, Option<usize>, &[usize], u32) -> Vec<usize>,
    ttl: u32,
) -> FloodResult {
    let mut queue: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let mut seen = vec![false; n];
    let mut result = FloodResult {
        reached: 1,
        messages: 0,
        seen_by_bytes: 0,
        last_delivery_us: 0,
        max_hops: 0,
        delivery_us: Vec::with_capacity(n),
    };
    seen[origin] = true;
    let mut seq = 0;
    let seen_by = vec![origin];
    for to in targets(origin, None, &seen_by, ttl) {
        seq += 1;
        result.messages += 1;
        result.seen_by_bytes += 2 * seen_by.len() as u64;
        queue.push(Reverse((
            rng.random_range(lat_min..=lat_max),
            seq,
            to,
            origin,
            1,
            seen_by.clone(),
        )));
    }
    while let Some(Reverse((at, _, node, from, hops, mut seen_by))) = queue.pop() {
        if seen[node] {
            continue;
        }
        seen[node] = true;
        result.reached += 1;
        result.last_delivery_us = at;
        result.delivery_us.push(at);
        result.max_hops = result.max_hops.max(hops);
        if hops >= ttl {
            continue;
        }
        seen_by.push(node);
        for to in targets(node, Some(from), &seen_by, ttl - hops) {
            seq += 1;
            result.messages += 1;
            if ttl != u32::MAX {
                result.seen_by_bytes += 2 * seen_by.len() as u64;
            }
            let latency = rng.random_range(lat_min..=lat_max);
            queue.push(Reverse((
                at + latency,
                seq,
                to,
                node,
                hops + 1,
                seen_by.clone(),
            )));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flooding_reaches_everyone_at_about_degree_messages_each() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let graph = random_graph(200, 4, &mut rng);
        let r = flood(&graph, 0, (1_000, 10_000), 2);
        assert_eq!(r.reached, 200);
        let edges: usize = graph.iter().map(Vec::len).sum();
        assert!(
            r.messages as usize <= edges,
            "at most one message per directed edge"
        );
    }

    #[test]
    fn ttl_flooding_with_ttl_two_covers_a_full_view_at_many_messages_per_node() {
        let r = ttl_flood(50, 0, 2, (1_000, 10_000), 3);
        assert_eq!(r.reached, 50);
        // Nodes whose first copy came straight from the origin forward to
        // every peer not in seen_by; those reached first at hop 2 stop.
        assert!(r.messages > 5 * 49, "{r:?}");
        assert!(
            r.seen_by_bytes >= 2 * r.messages,
            "every copy carries seen_by"
        );
    }
}
