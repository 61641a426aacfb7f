//! A beacon's record of broadcast coverage: for each of the last
//! `traces_max` messages, who delivered it, when (the beacon's clock at the
//! report) and after how many hops. Bounded in messages and in reports each.

use crate::message::MessageId;
use skein_core::NodeId;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

pub struct Traces {
    by_id: BTreeMap<MessageId, BTreeMap<NodeId, (Duration, u16)>>,
    order: VecDeque<MessageId>,
    traces_max: usize,
    reports_max: usize,
}

impl Traces {
    pub fn new(traces_max: usize, reports_max: usize) -> Self {
        Self {
            by_id: BTreeMap::new(),
            order: VecDeque::new(),
            traces_max,
            reports_max,
        }
    }

    /// Notes that `node` delivered `id`; the first report of a node counts.
    pub fn record(&mut self, id: MessageId, node: NodeId, at: Duration, hops: u16) {
        if !self.by_id.contains_key(&id) {
            if self.order.len() >= self.traces_max {
                if let Some(old) = self.order.pop_front() {
                    self.by_id.remove(&old);
                }
            }
            self.order.push_back(id);
        }
        let reports = self.by_id.entry(id).or_default();
        if reports.len() < self.reports_max {
            reports.entry(node).or_insert((at, hops));
        }
    }

    pub fn get(&self, id: MessageId) -> Option<&BTreeMap<NodeId, (Duration, u16)>> {
        self.by_id.get(&id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_keep_first_reports_within_bounds() {
        let mut t = Traces::new(2, 2);
        let s = Duration::from_secs;
        t.record(MessageId(1), NodeId(1), s(1), 0);
        t.record(MessageId(1), NodeId(1), s(5), 3);
        t.record(MessageId(1), NodeId(2), s(2), 1);
        t.record(MessageId(1), NodeId(3), s(3), 1);
        assert_eq!(
            t.get(MessageId(1)).unwrap().get(&NodeId(1)),
            Some(&(s(1), 0))
        );
        assert_eq!(t.get(MessageId(1)).unwrap().len(), 2);
        t.record(MessageId(2), NodeId(1), s(1), 0);
        t.record(MessageId(3), NodeId(1), s(1), 0);
        assert_eq!(t.len(), 2);
        assert!(t.get(MessageId(1)).is_none(), "the oldest trace made room");
    }
}
