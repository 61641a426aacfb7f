//! One running copy of a protocol core and everything the simulator keeps
//! for it: its life (epoch), clock, timers, disk, pause queue, and whether
//! it is Byzantine. A node is usually one instance; a Twins node is two.

use crate::byzantine::Adversary;
use crate::disk::SimDisk;
use crate::event::EventKind;
use crate::time::NodeClock;
use skein_core::{NodeId, Protocol, TimerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Events a paused instance holds; more are dropped (messages) like a full
/// socket buffer, and counted.
pub const HELD_EVENTS_MAX: usize = 4_096;

pub(crate) struct Instance<P: Protocol> {
    pub id: NodeId,
    /// `None` while crashed.
    pub core: Option<P>,
    /// Bumped on every crash so events of a previous life are ignored.
    pub epoch: u32,
    pub paused: bool,
    pub held: VecDeque<EventKind<P>>,
    pub clock: NodeClock,
    /// Armed timers and the generation that will fire them.
    pub timers: BTreeMap<TimerId, u64>,
    pub timer_generation: u64,
    pub tick_us: u64,
    pub disk: SimDisk,
    /// Twins: the peers this instance talks to; `None` talks to all.
    pub side: Option<BTreeSet<NodeId>>,
    pub adversary: Option<Box<dyn Adversary<P>>>,
    /// The Byzantine behaviour name, if any (Twins included).
    pub byzantine: Option<String>,
}

impl<P: Protocol> Instance<P> {
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            core: None,
            epoch: 0,
            paused: false,
            held: VecDeque::new(),
            clock: NodeClock::started_at(0, 0),
            timers: BTreeMap::new(),
            timer_generation: 0,
            tick_us: 1,
            disk: SimDisk::default(),
            side: None,
            adversary: None,
            byzantine: None,
        }
    }

    pub fn is_running(&self) -> bool {
        self.core.is_some() && !self.paused
    }

    pub fn is_honest(&self) -> bool {
        self.byzantine.is_none()
    }

    /// Whether this instance exchanges messages with node `peer`.
    pub fn talks_to(&self, peer: NodeId) -> bool {
        self.side.as_ref().is_none_or(|side| side.contains(&peer))
    }
}
