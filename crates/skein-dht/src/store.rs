//! A bounded key store with last-writer-wins merging. A node has two: the
//! network store (its share of the ring's keys, replicated) and the local
//! store (its own data, as in the original BitDrizzle, never replicated).

use crate::message::{Item, Version};
use crate::ring::RingId;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

#[derive(Clone, Debug)]
struct Stored {
    item: Item,
    ring: RingId,
    /// This node's clock when this version arrived (the age of a tombstone).
    stored_at: Duration,
}

/// What merging an item did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The item was newer and replaced (or added) the stored one.
    Applied,
    /// The stored version is the same or newer.
    Stale,
    /// New key, but the store is full.
    Full,
}

#[derive(Clone, Debug)]
pub struct Store {
    items: BTreeMap<String, Stored>,
    /// The same keys in ring order, for garbage collection by ring range.
    by_ring: BTreeSet<(RingId, String)>,
    keys_max: usize,
}

impl Store {
    pub fn new(keys_max: usize) -> Self {
        Self {
            items: BTreeMap::new(),
            by_ring: BTreeSet::new(),
            keys_max,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Keys with a value (tombstones left out).
    pub fn live_len(&self) -> usize {
        self.items
            .values()
            .filter(|s| s.item.value.is_some())
            .count()
    }

    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.get(key).map(|s| &s.item)
    }

    pub fn version(&self, key: &str) -> Option<Version> {
        self.get(key).map(|i| i.version)
    }

    /// Keeps `item` if its version is higher than the stored one (LWW);
    /// `now` is this node's clock, kept as the item's arrival time.
    pub fn merge(&mut self, item: Item, now: Duration) -> Merge {
        let full = self.items.len() >= self.keys_max;
        match self.items.get_mut(&item.key) {
            Some(stored) if stored.item.version >= item.version => Merge::Stale,
            Some(stored) => {
                stored.item = item;
                stored.stored_at = now;
                Merge::Applied
            }
            None if full => Merge::Full,
            None => {
                let ring = RingId::of_key(&item.key);
                self.by_ring.insert((ring, item.key.clone()));
                let stored = Stored {
                    item,
                    ring,
                    stored_at: now,
                };
                self.items.insert(stored.item.key.clone(), stored);
                Merge::Applied
            }
        }
    }

    /// Removes a key outright: local deletes, and garbage collection of
    /// copies and tombstones (the network store deletes with tombstones).
    pub fn remove(&mut self, key: &str) -> Option<Item> {
        let stored = self.items.remove(key)?;
        self.by_ring.remove(&(stored.ring, stored.item.key.clone()));
        Some(stored.item)
    }

    /// Removes `key` only if it is still at `version` (a newer write since
    /// the caller looked must survive).
    pub fn remove_if_version(&mut self, key: &str, version: Version) -> bool {
        if self.version(key) != Some(version) {
            return false;
        }
        self.remove(key).is_some()
    }

    /// When the stored version of `key` arrived, by this node's clock.
    pub fn stored_at(&self, key: &str) -> Option<Duration> {
        self.items.get(key).map(|s| s.stored_at)
    }

    /// The first key at or after `from` in ring order, wrapping past zero.
    pub fn first_in_ring_from(&self, from: RingId) -> Option<(RingId, &str)> {
        let from = (from, String::new());
        self.by_ring
            .range((Bound::Included(&from), Bound::Unbounded))
            .chain(self.by_ring.iter())
            .next()
            .map(|(ring, key)| (*ring, key.as_str()))
    }

    /// Items with ring ids in the closed arc `[from, to]` clockwise, in ring
    /// order, at most `bytes_max` item bytes but at least one.
    pub fn ring_arc(&self, from: RingId, to: RingId, bytes_max: usize) -> Vec<(RingId, Item)> {
        let start = (from, String::new());
        let after = self
            .by_ring
            .range((Bound::Included(&start), Bound::Unbounded));
        let wrapped = self.by_ring.range(..&start);
        let in_arc = |ring: &RingId| *ring == from || crate::ring::in_half_open(from, *ring, to);
        let mut out = Vec::new();
        let mut bytes = 0;
        for (ring, key) in after.chain(wrapped) {
            if !in_arc(ring) {
                break;
            }
            let item = &self.items[key].item;
            if !out.is_empty() && bytes + item.bytes() > bytes_max {
                break;
            }
            bytes += item.bytes();
            out.push((*ring, item.clone()));
        }
        out
    }

    /// Items from `after` onwards (by key, wrapping to the start), at most
    /// `bytes_max` item bytes but at least one, for round-robin replication.
    pub fn batch_from(&self, after: &str, bytes_max: usize) -> Vec<(RingId, Item)> {
        let tail = self
            .items
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded));
        let head = self
            .items
            .range::<str, _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(after)));
        let mut out = Vec::new();
        let mut bytes = 0;
        for (_, s) in tail.chain(head) {
            if !out.is_empty() && bytes + s.item.bytes() > bytes_max {
                break;
            }
            bytes += s.item.bytes();
            out.push((s.ring, s.item.clone()));
        }
        out
    }

    /// Every item with its ring id, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (RingId, &Item)> + '_ {
        self.items.values().map(|s| (s.ring, &s.item))
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.by_ring.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, counter: u64, writer: u16) -> Item {
        Item {
            key: key.into(),
            value: Some(vec![counter as u8]),
            version: Version { counter, writer },
        }
    }

    #[test]
    fn last_writer_wins_by_counter_then_writer() {
        let mut s = Store::new(10);
        assert_eq!(s.merge(item("k", 2, 1), Duration::ZERO), Merge::Applied);
        assert_eq!(
            s.merge(item("k", 1, 9), Duration::ZERO),
            Merge::Stale,
            "lower counter loses"
        );
        assert_eq!(
            s.merge(item("k", 2, 1), Duration::ZERO),
            Merge::Stale,
            "same version is a no-op"
        );
        assert_eq!(
            s.merge(item("k", 2, 3), Duration::ZERO),
            Merge::Applied,
            "tie: higher writer wins"
        );
        assert_eq!(
            s.version("k"),
            Some(Version {
                counter: 2,
                writer: 3
            })
        );
        let tomb = Item {
            value: None,
            ..item("k", 3, 1)
        };
        assert_eq!(s.merge(tomb, Duration::ZERO), Merge::Applied);
        assert_eq!(s.live_len(), 0);
        assert_eq!(s.len(), 1, "the tombstone is kept");
    }

    #[test]
    fn a_full_store_refuses_new_keys_but_updates_old_ones() {
        let mut s = Store::new(2);
        s.merge(item("a", 1, 1), Duration::ZERO);
        s.merge(item("b", 1, 1), Duration::ZERO);
        assert_eq!(s.merge(item("c", 1, 1), Duration::ZERO), Merge::Full);
        assert_eq!(s.merge(item("a", 2, 1), Duration::ZERO), Merge::Applied);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn batches_go_round_robin_and_respect_the_byte_bound() {
        let mut s = Store::new(10);
        for k in ["a", "b", "c", "d"] {
            s.merge(item(k, 1, 1), Duration::ZERO);
        }
        let keys = |b: Vec<(RingId, Item)>| b.into_iter().map(|(_, i)| i.key).collect::<Vec<_>>();
        assert_eq!(keys(s.batch_from("b", 4)), ["c", "d"]);
        assert_eq!(keys(s.batch_from("d", 4)), ["a", "b"], "wraps to the start");
        assert_eq!(keys(s.batch_from("", 1)), ["a"], "at least one item");
        assert_eq!(s.batch_from("", 100).len(), 4, "each item once");
    }
}
