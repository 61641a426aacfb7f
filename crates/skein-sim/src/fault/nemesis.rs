//! The nemesis: every so often it picks one enabled fault kind and either
//! starts such a fault or undoes one, like Jepsen's composed nemeses. It
//! keeps at most a minority of nodes crashed or paused at once, so a correct
//! protocol can still make progress; safety must hold regardless.

use super::FaultAction;
use crate::config::{FaultKind, NemesisConfig};
use crate::net::{LinkConfig, Partition, PartitionShape};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use skein_core::NodeId;

/// What the nemesis may know of the cluster when it acts.
pub struct NemesisView {
    pub members: Vec<NodeId>,
    pub crashed: Vec<NodeId>,
    pub paused: Vec<NodeId>,
    /// Nodes neither crashed nor paused.
    pub running: Vec<NodeId>,
    pub partitioned: bool,
    pub chaotic: bool,
}

pub struct Nemesis {
    kinds: Vec<FaultKind>,
    cfg: NemesisConfig,
}

impl Nemesis {
    pub fn new(kinds: Vec<FaultKind>, cfg: NemesisConfig) -> Self {
        Self { kinds, cfg }
    }

    pub fn is_idle(&self) -> bool {
        self.kinds.is_empty()
    }

    pub fn next_delay_us(&self, rng: &mut ChaCha8Rng) -> u64 {
        1_000 * rng.random_range(self.cfg.interval_min_ms..=self.cfg.interval_max_ms)
    }

    /// Picks the next action, or `None` when the drawn kind has nothing to do.
    pub fn next(&self, rng: &mut ChaCha8Rng, view: &NemesisView) -> Option<FaultAction> {
        let kind = *self.kinds.choose(rng)?;
        let down_max = (view.members.len().saturating_sub(1) / 2).max(1);
        let down = view.crashed.len() + view.paused.len();
        let undo = rng.random_bool(0.5);
        match kind {
            FaultKind::Partitions if view.partitioned => Some(FaultAction::Heal),
            FaultKind::Partitions => {
                let shape = *PartitionShape::ALL.choose(rng)?;
                Some(FaultAction::Partition(Partition::random(
                    shape,
                    &view.members,
                    rng,
                )))
            }
            FaultKind::Crashes if !view.crashed.is_empty() && (undo || down >= down_max) => {
                Some(FaultAction::Restart(*view.crashed.choose(rng)?))
            }
            FaultKind::Crashes if down < down_max => {
                Some(FaultAction::Crash(*view.running.choose(rng)?))
            }
            FaultKind::Pauses if !view.paused.is_empty() && (undo || down >= down_max) => {
                Some(FaultAction::Resume(*view.paused.choose(rng)?))
            }
            FaultKind::Pauses if down < down_max => {
                Some(FaultAction::Pause(*view.running.choose(rng)?))
            }
            FaultKind::Clocks => {
                let node = *view.members.choose(rng)?;
                let max = self.cfg.drift_ppm_max;
                let ppm = if undo {
                    0
                } else {
                    rng.random_range(-max..=max)
                };
                Some(FaultAction::Drift { node, ppm })
            }
            FaultKind::Corruptions => Some(FaultAction::Corrupt(*view.running.choose(rng)?)),
            FaultKind::Network if view.chaotic => Some(FaultAction::Network(None)),
            FaultKind::Network => Some(FaultAction::Network(Some(LinkConfig::chaotic()))),
            _ => None,
        }
    }
}
