//! Per-origin floors: what keeps exactly-once delivery when the bounded
//! seen-cache forgets an id (issue 7).
//!
//! Every broadcast carries its origin's signed, monotone [`Stamp`]. When
//! the seen-cache evicts a delivered id, the node raises its origin's floor
//! to that id's stamp; a later copy at or below the floor that is not in
//! the cache is stale and is not delivered again.
//!
//! Why no *new* message is refused: the floor of origin `o` is the stamp
//! of a message of `o` this node delivered and then forgot, which takes
//! `seen_max` further deliveries. A copy refused by it is either that
//! message (or another one delivered and forgotten: the point), or an
//! older message of `o` that never reached this node while at least
//! `seen_max` other messages did. The overlay's exactly-once premise is
//! that a node delivers fewer than `seen_max` messages per anti-entropy
//! window, so that older message's spread and its offers were over before
//! the floor passed it: a copy arriving now is a leftover (a paused peer's
//! backlog, a late offer of a message that was itself delivered late), not
//! a broadcast in progress. Floors rise only on eviction, never on receipt,
//! so a message that arrives out of order during its spread (a later one
//! of the same origin first) is still delivered.
//!
//! Bounded to [`FLOORS_MAX`] origins; the least recently raised is dropped
//! first, which only weakens the guard for an origin silent for longer
//! than `FLOORS_MAX` other origins' evictions.

use skein_core::NodeId;
use std::collections::BTreeMap;

/// Origins whose floors are kept.
pub const FLOORS_MAX: usize = 4_096;

/// A broadcast's place in its origin's sequence:
/// `(origin boot number << 32) | broadcasts made in that boot`. The boot
/// number is durable before the node says anything (see `Gossip::start`),
/// so stamps grow across the origin's restarts too.
pub type Stamp = u64;

/// The stamp of the `count`-th broadcast of boot `boots`, if it fits.
pub fn stamp(boots: u64, count: u64) -> Option<Stamp> {
    let boots = u32::try_from(boots).ok()?;
    let count = u32::try_from(count).ok()?;
    Some(u64::from(boots) << 32 | u64::from(count))
}

#[derive(Clone, Debug, Default)]
pub struct Floors {
    /// origin → (floor, when raised on `clock`).
    by_origin: BTreeMap<NodeId, (Stamp, u64)>,
    /// when raised → origin: the eviction order.
    by_age: BTreeMap<u64, NodeId>,
    clock: u64,
}

impl Floors {
    /// Floors listed least recently raised first (as [`Floors::entries`] gives them).
    pub fn from_entries(entries: &[(NodeId, Stamp)]) -> Self {
        let mut floors = Self::default();
        for &(origin, stamp) in entries {
            floors.raise(origin, stamp);
        }
        floors
    }

    /// The floors, least recently raised first.
    pub fn entries(&self) -> Vec<(NodeId, Stamp)> {
        self.by_age
            .values()
            .map(|origin| (*origin, self.by_origin[origin].0))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_origin.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }

    pub fn floor(&self, origin: NodeId) -> Option<Stamp> {
        self.by_origin.get(&origin).map(|(stamp, _)| *stamp)
    }

    /// A copy of `origin`'s message stamped `stamp` is at or below its
    /// floor (the caller checked it is not in the seen-cache).
    pub fn stale(&self, origin: NodeId, stamp: Stamp) -> bool {
        self.floor(origin).is_some_and(|floor| stamp <= floor)
    }

    /// The seen-cache forgot `origin`'s message stamped `stamp`.
    pub fn raise(&mut self, origin: NodeId, stamp: Stamp) {
        let floor = match self.by_origin.remove(&origin) {
            Some((floor, raised)) => {
                self.by_age.remove(&raised);
                floor.max(stamp)
            }
            None => stamp,
        };
        self.clock += 1;
        self.by_origin.insert(origin, (floor, self.clock));
        self.by_age.insert(self.clock, origin);
        if self.by_origin.len() > FLOORS_MAX {
            if let Some((_, oldest)) = self.by_age.pop_first() {
                self.by_origin.remove(&oldest);
            }
        }
        debug_assert!(self.by_origin.len() <= FLOORS_MAX);
        debug_assert_eq!(self.by_origin.len(), self.by_age.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_floor_only_rises_and_covers_what_is_at_or_below_it() {
        let mut floors = Floors::default();
        assert!(!floors.stale(NodeId(1), 0), "no floor: nothing is stale");
        floors.raise(NodeId(1), 10);
        floors.raise(NodeId(1), 4);
        assert_eq!(floors.floor(NodeId(1)), Some(10));
        assert!(floors.stale(NodeId(1), 10) && floors.stale(NodeId(1), 3));
        assert!(!floors.stale(NodeId(1), 11) && !floors.stale(NodeId(2), 1));
    }

    #[test]
    fn the_least_recently_raised_origin_is_dropped_past_the_bound() {
        let mut floors = Floors::default();
        for origin in 0..=FLOORS_MAX as u16 {
            floors.raise(NodeId(origin), 1);
            if origin == 5 {
                floors.raise(NodeId(0), 2); // origin 0 is now fresher than 1..=5
            }
        }
        assert_eq!(floors.len(), FLOORS_MAX);
        assert_eq!(floors.floor(NodeId(1)), None, "oldest raise dropped");
        assert_eq!(floors.floor(NodeId(0)), Some(2));
        let again = Floors::from_entries(&floors.entries());
        assert_eq!(
            again.entries(),
            floors.entries(),
            "order survives a round trip"
        );
    }

    #[test]
    fn stamps_order_boots_before_counts() {
        assert!(stamp(2, 0).unwrap() > stamp(1, u64::from(u32::MAX)).unwrap());
        assert!(stamp(1, 5).unwrap() < stamp(1, 6).unwrap());
        assert_eq!(stamp(1 << 32, 0), None);
        assert_eq!(stamp(0, 1 << 32), None);
    }
}
