//! Partitions: which directed links are cut. Shapes follow Jepsen's nemeses.
//!
//! ```text
//! isolate-one      majority/minority     majorities-ring (n=5)   bridge (n=5)
//!  a | b c d e      a b c | d e           each node sees itself    a b ─ c ─ d e
//!                                         and its 2 ring           (c sees all,
//!                                         neighbours: a majority    a,b ∤ d,e)
//! ```
//! One-way shapes cut only one direction (the node can send but not hear).

use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use skein_core::NodeId;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionShape {
    IsolateOne,
    MajorityMinority,
    MajoritiesRing,
    Bridge,
    /// One node hears nobody but can still send: an asymmetric cut.
    OneWayDeaf,
    /// A random split into two non-empty groups.
    RandomHalves,
}

impl PartitionShape {
    pub const ALL: [PartitionShape; 6] = [
        PartitionShape::IsolateOne,
        PartitionShape::MajorityMinority,
        PartitionShape::MajoritiesRing,
        PartitionShape::Bridge,
        PartitionShape::OneWayDeaf,
        PartitionShape::RandomHalves,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartitionShape::IsolateOne => "isolate-one",
            PartitionShape::MajorityMinority => "majority-minority",
            PartitionShape::MajoritiesRing => "majorities-ring",
            PartitionShape::Bridge => "bridge",
            PartitionShape::OneWayDeaf => "one-way-deaf",
            PartitionShape::RandomHalves => "random-halves",
        }
    }
}

/// A set of cut directed links `(from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Partition {
    /// Cuts every link between different groups, both ways.
    pub fn split(name: &str, groups: &[Vec<NodeId>]) -> Self {
        let mut cut = BTreeSet::new();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    cut.extend(a.iter().flat_map(|&x| b.iter().map(move |&y| (x, y))));
                }
            }
        }
        Self {
            name: name.into(),
            cut,
        }
    }

    /// Cuts only the links from `senders` to `receivers`.
    pub fn one_way(name: &str, senders: &[NodeId], receivers: &[NodeId]) -> Self {
        let cut = senders
            .iter()
            .flat_map(|&x| receivers.iter().map(move |&y| (x, y)))
            .filter(|(x, y)| x != y)
            .collect();
        Self {
            name: name.into(),
            cut,
        }
    }

    /// Cuts exactly the given directed links.
    pub fn links(name: &str, cut: impl IntoIterator<Item = (NodeId, NodeId)>) -> Self {
        Self {
            name: name.into(),
            cut: cut.into_iter().collect(),
        }
    }

    pub fn blocks(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to))
    }

    pub fn cut_links(&self) -> usize {
        self.cut.len()
    }

    /// Builds `shape` over `members` with nodes placed at random.
    pub fn random(shape: PartitionShape, members: &[NodeId], rng: &mut ChaCha8Rng) -> Self {
        let mut nodes = members.to_vec();
        nodes.shuffle(rng);
        let n = nodes.len();
        let name = shape.name();
        match shape {
            PartitionShape::IsolateOne => {
                Self::split(name, &[nodes[..1].to_vec(), nodes[1..].to_vec()])
            }
            PartitionShape::MajorityMinority => {
                let majority = n / 2 + 1;
                Self::split(
                    name,
                    &[nodes[..majority].to_vec(), nodes[majority..].to_vec()],
                )
            }
            PartitionShape::RandomHalves => {
                let cut_at = if n > 1 {
                    *(1..n).collect::<Vec<_>>().choose(rng).unwrap_or(&1)
                } else {
                    1
                };
                Self::split(name, &[nodes[..cut_at].to_vec(), nodes[cut_at..].to_vec()])
            }
            PartitionShape::MajoritiesRing => Self::majorities_ring(&nodes),
            PartitionShape::Bridge => {
                // Two halves that hear only the bridge node in the middle.
                let half = n / 2;
                let (left, rest) = nodes.split_at(half);
                let right = rest.get(1..).unwrap_or(&[]);
                let mut p = Self::split(name, &[left.to_vec(), right.to_vec()]);
                p.name = name.into();
                p
            }
            PartitionShape::OneWayDeaf => Self::one_way(name, &nodes[1..], &nodes[..1]),
        }
    }

    /// Each node keeps links to the ring neighbours that, with itself, make a
    /// majority; no two nodes see the same majority.
    fn majorities_ring(ring: &[NodeId]) -> Self {
        let n = ring.len();
        let others_needed = n / 2; // itself + n/2 others is a majority
        let reach = others_needed.div_ceil(2);
        let mut cut = BTreeSet::new();
        for i in 0..n {
            for j in 0..n {
                let d = i.abs_diff(j);
                let ring_distance = d.min(n - d);
                if i != j && ring_distance > reach {
                    cut.insert((ring[i], ring[j]));
                }
            }
        }
        Self {
            name: PartitionShape::MajoritiesRing.name().into(),
            cut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ids(n: u16) -> Vec<NodeId> {
        (1..=n).map(NodeId).collect()
    }

    #[test]
    fn majorities_ring_lets_every_node_see_a_majority_but_not_all() {
        let nodes = ids(5);
        let p = Partition::majorities_ring(&nodes);
        for &a in &nodes {
            let seen = nodes.iter().filter(|&&b| !p.blocks(a, b)).count();
            assert_eq!(seen, 3, "node {a} sees {seen}");
        }
    }

    #[test]
    fn bridge_node_sees_everyone_and_halves_do_not_see_each_other() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let nodes = ids(5);
        let p = Partition::random(PartitionShape::Bridge, &nodes, &mut rng);
        let bridges: Vec<_> = nodes
            .iter()
            .filter(|&&a| nodes.iter().all(|&b| !p.blocks(a, b)))
            .collect();
        assert_eq!(bridges.len(), 1);
        assert_eq!(p.cut_links(), 8); // 2×2 pairs, both ways
    }

    #[test]
    fn one_way_cuts_only_one_direction() {
        let p = Partition::one_way("t", &[NodeId(2)], &[NodeId(1)]);
        assert!(p.blocks(NodeId(2), NodeId(1)));
        assert!(!p.blocks(NodeId(1), NodeId(2)));
    }
}
