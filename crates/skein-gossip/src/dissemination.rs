//! SWIM's piggyback queue: each membership update rides on the next pings
//! and acks until it has been sent `retransmit_mult * ceil(log2(n + 1))`
//! times (SWIM §4.1: enough for it to reach every member with high
//! probability). One pending update per subject; the newest wins.

use crate::message::Update;
use skein_core::NodeId;
use std::collections::BTreeMap;

pub struct Dissemination {
    pending: BTreeMap<NodeId, (Update, u32)>,
    max: usize,
}

impl Dissemination {
    pub fn new(max: usize) -> Self {
        assert!(max >= 1, "the piggyback queue holds at least one update");
        Self {
            pending: BTreeMap::new(),
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queues `update`, replacing an older one about the same subject. When
    /// full, the most-sent update makes room (it has spread the furthest).
    pub fn push(&mut self, update: Update) {
        if !self.pending.contains_key(&update.subject) && self.pending.len() >= self.max {
            let most_sent = self
                .pending
                .iter()
                .max_by_key(|(id, (_, sent))| (*sent, std::cmp::Reverse(**id)))
                .map(|(id, _)| *id);
            if let Some(id) = most_sent {
                self.pending.remove(&id);
            }
        }
        self.pending.insert(update.subject, (update, 0));
        debug_assert!(self.pending.len() <= self.max);
    }

    /// Up to `count` least-sent updates for one message; each is dropped
    /// once sent `limit` times.
    pub fn take(&mut self, count: usize, limit: u32) -> Vec<Update> {
        let mut order: Vec<(u32, NodeId)> = self
            .pending
            .iter()
            .map(|(id, (_, sent))| (*sent, *id))
            .collect();
        order.sort_unstable();
        let mut out = Vec::with_capacity(count.min(order.len()));
        for (_, id) in order.into_iter().take(count) {
            let Some((update, sent)) = self.pending.get_mut(&id) else {
                continue;
            };
            *sent += 1;
            out.push(update.clone());
            if *sent >= limit {
                self.pending.remove(&id);
            }
        }
        out
    }
}

/// SWIM's retransmission limit for a group of `members`.
pub fn retransmit_limit(mult: u32, members: usize) -> u32 {
    let log2 = members
        .saturating_add(1)
        .next_power_of_two()
        .trailing_zeros();
    mult.saturating_mul(log2.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::message::Fact;
    use rand::SeedableRng;

    fn suspect(subject: u16, inc: u64) -> Update {
        let me = Identity::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        Update::signed(&me, NodeId(subject), inc, Fact::Suspect, NodeId(1))
    }

    #[test]
    fn updates_are_sent_least_sent_first_until_the_limit() {
        let mut q = Dissemination::new(8);
        q.push(suspect(2, 0));
        q.push(suspect(3, 0));
        assert_eq!(q.take(1, 2).len(), 1);
        let next = q.take(1, 2);
        assert_eq!(next[0].subject, NodeId(3), "the unsent one goes first");
        assert_eq!(q.take(5, 2).len(), 2);
        assert!(q.is_empty(), "each sent twice, the limit");
    }

    #[test]
    fn a_newer_update_replaces_and_a_full_queue_evicts_the_most_sent() {
        let mut q = Dissemination::new(2);
        q.push(suspect(2, 0));
        q.push(suspect(2, 1));
        assert_eq!(q.len(), 1);
        q.push(suspect(3, 0));
        q.take(1, 10); // subject 2 sent once
        q.push(suspect(4, 0));
        assert_eq!(q.len(), 2);
        let left: Vec<u16> = q.take(5, 10).iter().map(|u| u.subject.0).collect();
        assert_eq!(left, vec![3, 4]);
    }

    #[test]
    fn the_limit_grows_with_log_n() {
        assert_eq!(retransmit_limit(3, 1), 3);
        assert_eq!(retransmit_limit(3, 4), 9);
        assert_eq!(retransmit_limit(3, 1000), 30);
    }
}
