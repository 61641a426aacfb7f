//! Plumtree's state (Leitão, Pereira, Rodrigues, "Epidemic Broadcast
//! Trees", SRDS 2007): eager peers get whole messages, lazy peers only ids
//! (IHAVE); a duplicate prunes its sender to lazy, a missing message grafts
//! its announcer back to eager. Plus the bounded seen-cache and the store
//! of recent messages that answers grafts and the messages API.
//!
//! ```text
//!   Gossip(first) ─▶ deliver, eager ∪= {from}, push eager, IHAVE lazy
//!   Gossip(dup)   ─▶ eager → lazy for from, PRUNE to from
//!   IHAVE(unseen) ─▶ missing; after graft_timeout: GRAFT announcer
//!   GRAFT         ─▶ lazy → eager, resend what it asked for
//! ```

use crate::floors::{Floors, Stamp};
use crate::message::{Broadcast, MessageId, IDS_PER_MESSAGE_MAX};
use skein_core::NodeId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Ids announced but not received that we track at once.
pub const MISSING_MAX: usize = 1_024;
/// An IHAVE this many hops shorter than the eager path swaps the tree
/// link (the paper's optimization threshold).
pub const SHORTCUT_HOPS: u16 = 3;
/// Announcers remembered per missing id (each gets one graft attempt).
pub const ANNOUNCERS_MAX: usize = 8;

pub struct Stored {
    pub seq: u64,
    pub message: Broadcast,
    pub hops: u16,
    pub delivered_at: Duration,
    /// The peer whose eager push delivered it (`None`: sent from here, or
    /// pulled by a graft); the tree optimization may swap that link.
    pub parent: Option<NodeId>,
    /// Pulled through an anti-entropy offer: not spread on, not offered on,
    /// so an old message cannot keep circulating past the seen-caches.
    pub offered: bool,
}

/// A delivered id as the seen-cache holds it: with its origin and stamp,
/// which raise the origin's floor when the cache forgets the id (`None`
/// for ids restored from records older than stamps). Kept on disk as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeenId {
    pub id: MessageId,
    pub origin_stamp: Option<(NodeId, Stamp)>,
}

struct Missing {
    announcers: VecDeque<NodeId>,
    graft_at: Duration,
    /// Known only from anti-entropy offers (no ordinary IHAVE for it).
    offered: bool,
}

pub struct Plumtree {
    pub eager: BTreeSet<NodeId>,
    pub lazy: BTreeSet<NodeId>,
    seen: BTreeSet<MessageId>,
    seen_order: VecDeque<SeenId>,
    seen_max: usize,
    floors: Floors,
    store: VecDeque<Stored>,
    messages_max: usize,
    delivered: u64,
    /// Deliveries up to this sequence number have durable records: only
    /// those are shown to the application (see [`Plumtree::visible_after`]).
    durable_seq: u64,
    missing: BTreeMap<MessageId, Missing>,
    ihave_queue: BTreeMap<NodeId, Vec<(MessageId, u16)>>,
}

impl Plumtree {
    pub fn new(seen_max: usize, messages_max: usize) -> Self {
        assert!(messages_max >= 1 && messages_max <= seen_max);
        Self {
            eager: BTreeSet::new(),
            lazy: BTreeSet::new(),
            seen: BTreeSet::new(),
            seen_order: VecDeque::new(),
            seen_max,
            floors: Floors::default(),
            store: VecDeque::new(),
            messages_max,
            delivered: 0,
            durable_seq: 0,
            missing: BTreeMap::new(),
            ihave_queue: BTreeMap::new(),
        }
    }

    pub fn seen(&self, id: MessageId) -> bool {
        self.seen.contains(&id)
    }
    pub fn seen_len(&self) -> usize {
        self.seen.len()
    }
    pub fn stored_len(&self) -> usize {
        self.store.len()
    }
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// The delivered messages still in the seen-cache, oldest first.
    pub fn seen_ids(&self) -> impl Iterator<Item = SeenId> + '_ {
        self.seen_order.iter().copied()
    }

    pub fn floors(&self) -> &Floors {
        &self.floors
    }

    /// A copy of a message this node delivered and has since forgotten
    /// (or older than such a one, from the same origin): see `floors.rs`.
    pub fn stale(&self, message: &Broadcast) -> bool {
        !self.seen(message.id) && self.floors.stale(message.origin, message.stamp)
    }

    /// A stale copy answered a graft or an IHAVE: stop waiting for it.
    pub fn forget_missing(&mut self, id: MessageId) {
        self.missing.remove(&id);
    }

    /// After a restart: the ids delivered before it count as seen (so they
    /// are not delivered again), the floors are back, and sequence numbers
    /// continue after `seq`.
    pub fn restore_delivered(&mut self, ids: &[SeenId], floors: Floors, seq: u64) {
        assert!(self.seen.is_empty(), "restored before any delivery");
        self.floors = floors;
        for &entry in ids {
            if self.seen.insert(entry.id) {
                self.seen_order.push_back(entry);
            }
            self.forget_beyond_seen_max();
        }
        self.delivered = seq;
        self.durable_seq = seq;
    }

    /// Keeps the seen-cache within `seen_max`; what it forgets raises floors.
    fn forget_beyond_seen_max(&mut self) {
        while self.seen_order.len() > self.seen_max {
            let Some(old) = self.seen_order.pop_front() else {
                break;
            };
            self.seen.remove(&old.id);
            if let Some((origin, stamp)) = old.origin_stamp {
                self.floors.raise(origin, stamp);
            }
        }
    }

    /// The records of deliveries up to `seq` are durable.
    pub fn mark_durable(&mut self, seq: u64) {
        assert!(seq <= self.delivered, "only deliveries made can be durable");
        self.durable_seq = self.durable_seq.max(seq);
    }
    pub fn durable_seq(&self) -> u64 {
        self.durable_seq
    }

    /// Records a first delivery; returns its sequence number. Caller checked `!seen`.
    pub fn deliver(
        &mut self,
        message: Broadcast,
        hops: u16,
        now: Duration,
        parent: Option<NodeId>,
    ) -> u64 {
        let offered = self.missing.get(&message.id).is_some_and(|m| m.offered);
        assert!(!self.seen(message.id), "a message is delivered once");
        self.seen.insert(message.id);
        self.seen_order.push_back(SeenId {
            id: message.id,
            origin_stamp: Some((message.origin, message.stamp)),
        });
        self.forget_beyond_seen_max();
        self.missing.remove(&message.id);
        self.delivered += 1;
        self.store.push_back(Stored {
            seq: self.delivered,
            message,
            hops,
            delivered_at: now,
            parent,
            offered,
        });
        if self.store.len() > self.messages_max {
            self.store.pop_front();
        }
        debug_assert!(self.seen.len() <= self.seen_max && self.store.len() <= self.messages_max);
        self.delivered
    }

    pub fn find(&self, id: MessageId) -> Option<&Stored> {
        self.store.iter().rev().find(|s| s.message.id == id)
    }

    /// Plumtree's optimization (§3.8 of the paper): `announcer` offers a
    /// message this node got `SHORTCUT_HOPS` or more hops later through
    /// its eager parent. Returns the parent to prune, and takes the
    /// announcer as the message's parent so one message swaps once.
    pub fn shortcut(&mut self, id: MessageId, announcer: NodeId, hops: u16) -> Option<NodeId> {
        let stored = self.store.iter_mut().rev().find(|s| s.message.id == id)?;
        let parent = stored.parent?;
        if parent == announcer || hops.saturating_add(SHORTCUT_HOPS) > stored.hops {
            return None;
        }
        stored.parent = Some(announcer);
        stored.hops = hops;
        Some(parent)
    }

    /// Stored messages with `seq > after`, oldest first, at most `limit`.
    pub fn after(&self, after: u64, limit: usize) -> impl Iterator<Item = &Stored> {
        self.store.iter().filter(move |s| s.seq > after).take(limit)
    }

    /// As [`Plumtree::after`], but only deliveries whose record is durable:
    /// what the application may see. A crash can lose a delivery whose
    /// record was not yet written; hiding it until then means the restarted
    /// node delivers it at most once from the application's point of view.
    pub fn visible_after(&self, after: u64, limit: usize) -> impl Iterator<Item = &Stored> {
        let durable = self.durable_seq;
        self.after(after, limit)
            .take_while(move |s| s.seq <= durable)
    }

    /// What anti-entropy offers a peer: ids of stored messages this node
    /// got by the ordinary spread (not from an offer) at or after `since`,
    /// the newest `limit`, oldest first.
    pub fn offerable(&self, since: Duration, limit: usize) -> Vec<MessageId> {
        let mut ids: Vec<MessageId> = self
            .store
            .iter()
            .rev()
            .take_while(|s| s.delivered_at >= since)
            .filter(|s| !s.offered)
            .take(limit)
            .map(|s| s.message.id)
            .collect();
        ids.reverse();
        ids
    }

    /// Whether a delivered message came from an anti-entropy offer.
    pub fn was_offered(&self, id: MessageId) -> bool {
        self.find(id).is_some_and(|s| s.offered)
    }

    /// `from` moves to the eager set (first copy or a graft from it).
    pub fn make_eager(&mut self, from: NodeId) {
        self.lazy.remove(&from);
        self.eager.insert(from);
    }

    /// `from` moves to the lazy set (a duplicate from it, or its prune).
    pub fn make_lazy(&mut self, from: NodeId) {
        self.eager.remove(&from);
        self.lazy.insert(from);
    }

    pub fn forget_peer(&mut self, id: NodeId) {
        self.eager.remove(&id);
        self.lazy.remove(&id);
        self.ihave_queue.remove(&id);
        for m in self.missing.values_mut() {
            m.announcers.retain(|a| *a != id);
        }
    }

    /// `from` announced `id`; graft from it if the message does not arrive by `graft_at`.
    pub fn announced(&mut self, id: MessageId, from: NodeId, graft_at: Duration) {
        if self.seen(id) {
            return;
        }
        if !self.missing.contains_key(&id) && self.missing.len() >= MISSING_MAX {
            return; // bounded; a later IHAVE or sync-time graft retries
        }
        let entry = self.missing.entry(id).or_insert_with(|| Missing {
            announcers: VecDeque::new(),
            graft_at,
            offered: false,
        });
        // An ordinary IHAVE: the message is spreading now; spread it on.
        entry.offered = false;
        if entry.announcers.len() < ANNOUNCERS_MAX && !entry.announcers.contains(&from) {
            entry.announcers.push_back(from);
        }
    }

    /// Grafts due at `now`, batched per announcer: one announcer per
    /// missing id, the next one `retry` later if this one does not deliver
    /// either.
    pub fn due_grafts(
        &mut self,
        now: Duration,
        retry: Duration,
    ) -> BTreeMap<NodeId, Vec<MessageId>> {
        let mut due: BTreeMap<NodeId, Vec<MessageId>> = BTreeMap::new();
        self.missing.retain(|id, m| {
            if m.graft_at > now {
                return true;
            }
            match m.announcers.pop_front() {
                Some(peer) => {
                    due.entry(peer).or_default().push(*id);
                    m.graft_at = now + retry;
                    true
                }
                None => false,
            }
        });
        due
    }

    /// `from` offered `id` (anti-entropy): graft it at `graft_at` unless an
    /// ordinary announcement comes first.
    pub fn offered(&mut self, id: MessageId, from: NodeId, graft_at: Duration) {
        if self.seen(id) || self.missing.contains_key(&id) || self.missing.len() >= MISSING_MAX {
            return;
        }
        let announcers = VecDeque::from([from]);
        let missing = Missing {
            announcers,
            graft_at,
            offered: true,
        };
        self.missing.insert(id, missing);
    }

    pub fn queue_ihave(&mut self, peer: NodeId, id: MessageId, hops: u16) {
        let queue = self.ihave_queue.entry(peer).or_default();
        if queue.len() < IDS_PER_MESSAGE_MAX {
            queue.push((id, hops));
        }
    }

    /// The IHAVE batches to send now, one per peer.
    pub fn drain_ihaves(&mut self) -> BTreeMap<NodeId, Vec<(MessageId, u16)>> {
        std::mem::take(&mut self.ihave_queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;

    fn message(n: u64) -> Broadcast {
        let me = Identity::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        Broadcast::new(&me, NodeId(1), (n, n), vec![1, 2, 3])
    }

    #[test]
    fn the_seen_cache_and_the_store_stay_bounded() {
        let mut t = Plumtree::new(3, 2);
        for n in 0..5 {
            t.deliver(message(n), 0, Duration::ZERO, None);
        }
        assert_eq!((t.seen_len(), t.stored_len(), t.delivered()), (3, 2, 5));
        assert!(t.seen(message(4).id) && !t.seen(message(0).id));
        let seqs: Vec<u64> = t.after(0, 10).map(|s| s.seq).collect();
        assert_eq!(seqs, vec![4, 5]);
    }

    #[test]
    fn a_missing_message_grafts_each_announcer_in_turn() {
        let mut t = Plumtree::new(10, 10);
        let id = message(1).id;
        let s = Duration::from_secs;
        t.announced(id, NodeId(2), s(1));
        t.announced(id, NodeId(3), s(1));
        let one = |peer: u16| BTreeMap::from([(NodeId(peer), vec![id])]);
        assert!(t.due_grafts(s(0), s(1)).is_empty());
        assert_eq!(t.due_grafts(s(1), s(1)), one(2));
        assert_eq!(t.due_grafts(s(2), s(1)), one(3));
        assert!(t.due_grafts(s(3), s(1)).is_empty());
        assert_eq!(t.missing_len(), 0, "given up after the last announcer");
    }

    #[test]
    fn a_much_shorter_path_swaps_the_parent_once() {
        let mut t = Plumtree::new(10, 10);
        let m = message(1);
        let id = m.id;
        t.deliver(m, 6, Duration::ZERO, Some(NodeId(2)));
        assert_eq!(t.shortcut(id, NodeId(3), 4), None, "two hops shorter: kept");
        assert_eq!(t.shortcut(id, NodeId(2), 1), None, "the parent itself");
        assert_eq!(t.shortcut(id, NodeId(3), 3), Some(NodeId(2)));
        assert_eq!(
            t.shortcut(id, NodeId(4), 2),
            None,
            "now 3 hops: swapped once"
        );
        assert_eq!(t.find(id).unwrap().parent, Some(NodeId(3)));
    }

    #[test]
    fn grafts_due_from_one_announcer_go_in_one_batch() {
        let mut t = Plumtree::new(10, 10);
        let (a, b) = (message(1).id, message(2).id);
        t.announced(a, NodeId(2), Duration::ZERO);
        t.announced(b, NodeId(2), Duration::ZERO);
        let due = t.due_grafts(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert_eq!(due[&NodeId(2)].len(), 2);
    }

    #[test]
    fn only_durable_deliveries_are_visible() {
        let mut t = Plumtree::new(10, 10);
        for n in 0..3 {
            t.deliver(message(n), 0, Duration::ZERO, None);
        }
        assert_eq!(t.visible_after(0, 10).count(), 0, "no record durable yet");
        t.mark_durable(2);
        let seqs: Vec<u64> = t.visible_after(0, 10).map(|s| s.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(t.after(0, 10).count(), 3);
    }

    /// Offers carry recent messages got by the ordinary spread only; a
    /// message pulled from an offer is marked and never offered again.
    #[test]
    fn offers_hold_recent_spread_messages_and_never_pulled_ones() {
        let s = Duration::from_secs;
        let mut t = Plumtree::new(10, 10);
        t.deliver(message(1), 1, s(1), Some(NodeId(2)));
        t.deliver(message(2), 1, s(5), Some(NodeId(2)));
        t.offered(message(3).id, NodeId(4), s(6));
        assert_eq!(t.due_grafts(s(6), s(1)).len(), 1, "grafted at once");
        t.deliver(message(3), 2, s(6), Some(NodeId(4)));
        assert!(t.was_offered(message(3).id));
        assert_eq!(t.offerable(s(2), 10), vec![message(2).id]);
        assert_eq!(
            t.offerable(s(0), 1),
            vec![message(2).id],
            "newest first under the limit"
        );
        // An ordinary IHAVE for an offered id makes it an ordinary delivery.
        t.offered(message(4).id, NodeId(4), s(7));
        t.announced(message(4).id, NodeId(5), s(7));
        t.deliver(message(4), 2, s(7), Some(NodeId(5)));
        assert!(!t.was_offered(message(4).id));
    }

    #[test]
    fn delivery_clears_missing_and_eager_lazy_move() {
        let mut t = Plumtree::new(10, 10);
        let m = message(1);
        t.announced(m.id, NodeId(2), Duration::ZERO);
        t.deliver(m, 1, Duration::ZERO, None);
        assert_eq!(t.missing_len(), 0);
        t.make_eager(NodeId(2));
        t.make_lazy(NodeId(2));
        assert!(t.lazy.contains(&NodeId(2)) && t.eager.is_empty());
    }
}
