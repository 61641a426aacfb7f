//! The event queue: a min-heap on (virtual time, sequence number). The
//! sequence number breaks ties in insertion order, which is itself decided by
//! the run so far, so the order of events is a pure function of the seed.

use crate::fault::FaultAction;
use skein_core::{Channel, NodeId, Protocol, RequestId, TimerId};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Something that happens at one instant. `inst` is an instance index;
/// `epoch` is the instance's life (bumped on crash), so events of a previous
/// life are recognised and dropped.
pub(crate) enum EventKind<P: Protocol> {
    Tick {
        inst: usize,
        epoch: u32,
    },
    Timer {
        inst: usize,
        epoch: u32,
        timer: TimerId,
        generation: u64,
    },
    Deliver {
        from_inst: usize,
        to_inst: usize,
        from: NodeId,
        channel: Channel,
        conn: u32,
        /// Already passed the network (it was held by a paused receiver).
        arrived: bool,
        message: P::Message,
    },
    PersistDone {
        inst: usize,
        epoch: u32,
        seq: u64,
    },
    /// A client request reaches a node.
    Request {
        inst: usize,
        id: RequestId,
        request: P::Request,
    },
    /// A node's reply reaches its client.
    Reply {
        id: RequestId,
        reply: P::Reply,
    },
    ClientWake {
        client: u32,
    },
    /// Operation `op` (a history index) has run out of time.
    ClientTimeout {
        op: usize,
    },
    /// A redirected operation is sent again.
    ClientRetry {
        op: usize,
        to: Option<NodeId>,
        attempt: u32,
        request: P::Request,
    },
    Fault(FaultAction),
    Nemesis,
    LivenessDeadline,
}

impl<P: Protocol> EventKind<P> {
    /// The instance this event happens at, if it is one a paused node must hold.
    pub(crate) fn held_by(&self) -> Option<usize> {
        match self {
            EventKind::Tick { inst, .. }
            | EventKind::Timer { inst, .. }
            | EventKind::PersistDone { inst, .. }
            | EventKind::Request { inst, .. } => Some(*inst),
            EventKind::Deliver { to_inst, .. } => Some(*to_inst),
            _ => None,
        }
    }
}

pub(crate) struct Scheduled<P: Protocol> {
    pub at_us: u64,
    pub seq: u64,
    pub kind: EventKind<P>,
}

impl<P: Protocol> PartialEq for Scheduled<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl<P: Protocol> Eq for Scheduled<P> {}
impl<P: Protocol> PartialOrd for Scheduled<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P: Protocol> Ord for Scheduled<P> {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

pub(crate) struct EventQueue<P: Protocol> {
    heap: BinaryHeap<Scheduled<P>>,
    next_seq: u64,
}

impl<P: Protocol> EventQueue<P> {
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::with_capacity(1024),
            next_seq: 0,
        }
    }

    pub fn push(&mut self, at_us: u64, kind: EventKind<P>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at_us, seq, kind });
    }

    pub fn pop(&mut self) -> Option<Scheduled<P>> {
        self.heap.pop()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }
}
