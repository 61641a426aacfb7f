//! Everything that decides a run besides the protocol: the seed, the cluster
//! size, limits, the network and disk models, the faults and the clients.
//! Same `SimConfig` + same protocol config ⇒ the same run, bit for bit.

use crate::byzantine::ByzantineSpec;
use crate::disk::DiskConfig;
use crate::fault::ScheduledFault;
use crate::net::LinkConfig;
use crate::SimError;
use skein_core::NodeId;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The most nodes one simulation runs (Twins add at most this many more
/// instances). Link state is per pair of instances, ~25 MB at this size;
/// rings of 1,000 nodes (the dht's scaling runs) need it.
pub const NODES_MAX: u16 = 1_024;

/// A family of faults the nemesis may inject during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Network splits of the named Jepsen shapes, symmetric and one-way; heal.
    Partitions,
    /// Crash (losing un-synced and tearing the last disk write) and restart.
    Crashes,
    /// Stop a node (its events queue up), then resume it.
    Pauses,
    /// Make node clocks run fast or slow.
    Clocks,
    /// Overwrite a node's in-memory state with arbitrary values (`Protocol::corrupt`).
    Corruptions,
    /// Loss, duplication, reordering, stream resets and slow links everywhere.
    Network,
    /// Replace some nodes by adversaries running generic Byzantine behaviours.
    Byzantine,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Partitions,
        FaultKind::Crashes,
        FaultKind::Pauses,
        FaultKind::Clocks,
        FaultKind::Corruptions,
        FaultKind::Network,
        FaultKind::Byzantine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partitions => "partitions",
            FaultKind::Crashes => "crashes",
            FaultKind::Pauses => "pauses",
            FaultKind::Clocks => "clocks",
            FaultKind::Corruptions => "corruptions",
            FaultKind::Network => "network",
            FaultKind::Byzantine => "byzantine",
        }
    }
}

/// A set of fault kinds, written on the command line as `partitions,crashes`,
/// `all` or `none`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSet(pub BTreeSet<FaultKind>);

impl FaultSet {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn all() -> Self {
        Self(FaultKind::ALL.into_iter().collect())
    }

    pub fn of(kinds: &[FaultKind]) -> Self {
        Self(kinds.iter().copied().collect())
    }

    pub fn contains(&self, kind: FaultKind) -> bool {
        self.0.contains(&kind)
    }

    /// The kinds the nemesis draws from during a run (Byzantine is set up once, at the start).
    pub fn dynamic(&self) -> Vec<FaultKind> {
        self.0
            .iter()
            .copied()
            .filter(|k| *k != FaultKind::Byzantine)
            .collect()
    }
}

impl FromStr for FaultSet {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let mut set = BTreeSet::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "all" => set.extend(FaultKind::ALL),
                "none" => {}
                _ => {
                    let kind = FaultKind::ALL
                        .into_iter()
                        .find(|k| {
                            [word.to_string(), format!("{word}s"), format!("{word}es")]
                                .iter()
                                .any(|w| w == k.name())
                        })
                        .ok_or_else(|| {
                            let known: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                            SimError::UnknownFault(word.into(), known.join(","))
                        })?;
                    set.insert(kind);
                }
            }
        }
        Ok(Self(set))
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        let names: Vec<_> = self.0.iter().map(|k| k.name()).collect();
        write!(f, "{}", names.join(","))
    }
}

/// How simulated clients issue operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopMode {
    /// Each client waits for its operation to finish, thinks, then issues the next.
    Closed,
    /// Each client issues operations at a rate regardless of completions,
    /// keeping at most `outstanding_max` in flight (the rest are skipped).
    Open {
        ops_per_sec: u32,
        outstanding_max: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    pub clients: u32,
    pub mode: LoopMode,
    /// After this long without a reply the outcome is unknown.
    pub timeout_ms: u64,
    /// Closed loop: pause between operations, drawn from `1..=think_ms_max`.
    pub think_ms_max: u64,
    /// The history stops growing here; clients then go idle.
    pub history_ops_max: usize,
    /// Wait before following a redirect ([`crate::workload::Outcome::Retry`]).
    pub retry_backoff_ms: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            clients: 3,
            mode: LoopMode::Closed,
            timeout_ms: 2_000,
            think_ms_max: 50,
            history_ops_max: 20_000,
            retry_backoff_ms: 10,
        }
    }
}

/// How the nemesis paces faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisConfig {
    pub interval_min_ms: u64,
    pub interval_max_ms: u64,
    /// After this share of `steps_max` (in percent) every fault is undone and
    /// the run is quiet, so liveness can be judged.
    pub quiet_after_percent: u8,
    pub drift_ppm_max: i32,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        Self {
            interval_min_ms: 200,
            interval_max_ms: 2_000,
            quiet_after_percent: 60,
            drift_ppm_max: 50_000,
        }
    }
}

/// One simulation run, protocol settings aside.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: u16,
    /// The run stops after this many events.
    pub steps_max: u64,
    pub link: LinkConfig,
    pub disk: DiskConfig,
    pub faults: FaultSet,
    pub nemesis: NemesisConfig,
    /// Faults at fixed virtual times, on top of the nemesis (used by tests).
    pub schedule: Vec<ScheduledFault>,
    pub byzantine: Vec<ByzantineSpec>,
    /// With the `byzantine` fault: at most this many Byzantine nodes in all
    /// (configured ones included); `None`: f = max(1, (n-1)/3) drawn on top.
    pub byzantine_nodes_max: Option<usize>,
    pub clients: ClientConfig,
    /// After the quiet phase starts, progress must happen within this bound.
    pub liveness_bound_ms: u64,
    /// A run that went quiet but reaches `steps_max` before its liveness
    /// deadline goes on for at most this many more events, so that liveness
    /// is judged instead of skipped (0: stop at `steps_max`). Protocols whose
    /// event rate varies a lot with their settings need it: the quiet point
    /// is a share of events, the deadline a span of virtual time.
    pub liveness_extra_steps_max: u64,
    /// Messages in flight on one directed link; more are dropped (datagram)
    /// or break the connection (stream), like a full socket buffer.
    pub in_flight_per_link_max: u32,
    /// Pending events of the whole simulation; beyond it the run stops with a violation.
    pub queue_events_max: usize,
    /// Nodes that boot later than the start, and when (ms): until then they
    /// are down, as if crashed (rings and overlays grow by joins this way).
    pub boot_at_ms: Vec<(NodeId, u64)>,
    /// Count the encoded size of every message sent, by kind
    /// (`SimStats::message_bytes`; costs one encoding per message).
    pub measure_message_bytes: bool,
}

impl SimConfig {
    pub fn new(seed: u64, nodes: u16) -> Self {
        Self {
            seed,
            nodes,
            steps_max: 100_000,
            link: LinkConfig::default(),
            disk: DiskConfig::default(),
            faults: FaultSet::none(),
            nemesis: NemesisConfig::default(),
            schedule: Vec::new(),
            byzantine: Vec::new(),
            byzantine_nodes_max: None,
            clients: ClientConfig::default(),
            liveness_bound_ms: 5_000,
            liveness_extra_steps_max: 0,
            in_flight_per_link_max: 1_024,
            queue_events_max: 1_000_000,
            boot_at_ms: Vec::new(),
            measure_message_bytes: false,
        }
    }

    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes == 0 || self.nodes > NODES_MAX {
            return Err(SimError::NodeCount(self.nodes, NODES_MAX));
        }
        for spec in &self.byzantine {
            if spec.node.0 == 0 || spec.node.0 > self.nodes {
                return Err(SimError::NoSuchNode(spec.node.0, self.nodes));
            }
        }
        if self.nemesis.interval_min_ms == 0
            || self.nemesis.interval_min_ms > self.nemesis.interval_max_ms
        {
            return Err(SimError::Invalid(
                "nemesis interval must be 1 ≤ min ≤ max".into(),
            ));
        }
        self.link.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_sets_parse_and_print() {
        let set: FaultSet = "partitions, crash,clocks".parse().unwrap();
        assert_eq!(set.to_string(), "partitions,crashes,clocks");
        assert_eq!("all".parse::<FaultSet>().unwrap(), FaultSet::all());
        assert!("floods".parse::<FaultSet>().is_err());
    }
}
