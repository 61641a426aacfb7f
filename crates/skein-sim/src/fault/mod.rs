//! Faults: the actions that break (and mend) a cluster, and the nemesis that
//! draws them from the seed during a run.

mod nemesis;

pub use nemesis::{Nemesis, NemesisView};

use crate::net::{LinkConfig, Partition};
use skein_core::NodeId;

/// One change to the simulated world. Node actions apply to every instance
/// of the node (both Twins).
#[derive(Clone, Debug, PartialEq)]
pub enum FaultAction {
    Partition(Partition),
    Heal,
    /// Kill the node: volatile state is gone, the disk loses un-synced writes.
    Crash(NodeId),
    /// Boot the node again from its durable records.
    Restart(NodeId),
    /// Stop processing: the node's events wait until it resumes.
    Pause(NodeId),
    Resume(NodeId),
    Drift {
        node: NodeId,
        ppm: i32,
    },
    /// Overwrite the node's in-memory state via `Protocol::corrupt`.
    Corrupt(NodeId),
    /// Switch every link to this behaviour, or back to healthy with `None`.
    Network(Option<LinkConfig>),
    /// Undo everything at once: heal, calm, resume and restart all nodes.
    /// Clock drift stays: a correct protocol must live with skewed clocks.
    Quiet,
}

impl FaultAction {
    /// The counter this action increments in the report.
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Partition(_) => "partition",
            FaultAction::Heal => "heal",
            FaultAction::Crash(_) => "crash",
            FaultAction::Restart(_) => "restart",
            FaultAction::Pause(_) => "pause",
            FaultAction::Resume(_) => "resume",
            FaultAction::Drift { .. } => "clock-drift",
            FaultAction::Corrupt(_) => "corrupt",
            FaultAction::Network(Some(_)) => "network-chaos",
            FaultAction::Network(None) => "network-calm",
            FaultAction::Quiet => "quiet",
        }
    }
}

/// A fault at a fixed virtual time, for tests and hand-written scenarios.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledFault {
    pub at_ms: u64,
    pub action: FaultAction,
}

impl ScheduledFault {
    pub fn at(at_ms: u64, action: FaultAction) -> Self {
        Self { at_ms, action }
    }
}
