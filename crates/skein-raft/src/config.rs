//! Settings and hard limits of the Raft core.
//!
//! Every queue and message in the core is bounded either by a field of
//! [`RaftConfig`] or by one of the constants below (STYLE.md habit 3).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest key accepted, in bytes. Larger keys are refused with
/// `RaftError::KeyTooLarge` before anything is written.
pub const KEY_BYTES_MAX: usize = 4 * 1024;
/// The longest value accepted, in bytes (`RaftError::ValueTooLarge`).
pub const VALUE_BYTES_MAX: usize = 64 * 1024;
/// The most items one `List` request returns; larger limits are clamped.
pub const LIST_LIMIT_MAX: u32 = 1_000;
/// The largest snapshot a follower accepts from a leader, in bytes.
pub const SNAPSHOT_BYTES_MAX: usize = 1 << 30;
/// The longest peer address a membership request may carry, in bytes.
pub const PEER_ADDRESS_BYTES_MAX: usize = 256;
/// Vote grants waiting for their vote record to become durable.
pub const DEFERRED_MESSAGES_MAX: usize = 64;

/// Keys left out of the config file keep their defaults; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftConfig {
    /// Election timeouts are drawn uniformly from `[min, max)` (Raft §5.2).
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// How often a leader sends heartbeats; well below the election timeout.
    pub heartbeat_interval_ms: u64,
    /// Pre-vote (thesis §9.6): a candidate first asks whether it could win.
    pub pre_vote: bool,
    /// Check-quorum (thesis §6.2): a leader that has not heard from a
    /// majority within an election timeout steps down.
    pub check_quorum: bool,
    /// The most entries in one AppendEntries message.
    pub append_entries_max: usize,
    /// The most entry bytes in one AppendEntries message (at least one entry is
    /// always sent, and one entry is bounded by the key and value limits).
    pub append_bytes_max: usize,
    /// AppendEntries messages in flight per follower (pipelining).
    pub inflight_appends_max: usize,
    /// Client writes proposed but not yet applied; past it, `Overloaded`.
    pub pending_proposals_max: usize,
    /// Reads waiting for ReadIndex confirmation; past it, `Overloaded`.
    pub pending_reads_max: usize,
    /// Take a snapshot and compact the log once this many applied entries
    /// follow the last snapshot.
    pub snapshot_log_entries: u64,
    /// InstallSnapshot chunk size in bytes.
    pub snapshot_chunk_bytes: usize,
    /// Lease reads (thesis §6.4.1): serve reads without a heartbeat round
    /// while the leader's lease holds. Assumes clocks drift by at most
    /// `clock_drift_percent` over one election timeout.
    pub lease_read: bool,
    pub clock_drift_percent: u64,
    /// Start with no membership: this node joins an existing cluster and
    /// waits to be added (as a learner) by its leader.
    pub join_existing: bool,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            heartbeat_interval_ms: 50,
            pre_vote: true,
            check_quorum: true,
            append_entries_max: 256,
            append_bytes_max: 1024 * 1024,
            inflight_appends_max: 8,
            pending_proposals_max: 4096,
            pending_reads_max: 4096,
            snapshot_log_entries: 8192,
            snapshot_chunk_bytes: 256 * 1024,
            lease_read: false,
            clock_drift_percent: 10,
            join_existing: false,
        }
    }
}

impl RaftConfig {
    /// Refuses settings the protocol cannot run with, saying which and why.
    /// The runtime calls it (through `Protocol::validate`) before a node
    /// starts and exits with code 2 on an error.
    pub fn validate(&self) -> Result<(), String> {
        let (min, max) = (self.election_timeout_min_ms, self.election_timeout_max_ms);
        if min == 0 {
            return Err("election_timeout_min_ms of at least 1".into());
        }
        if min >= max {
            return Err(format!(
                "election_timeout_min_ms ({min}) below election_timeout_max_ms ({max}): \
                 timeouts are drawn from [min, max), and a range keeps candidates from splitting votes"
            ));
        }
        let heartbeat = self.heartbeat_interval_ms;
        if heartbeat == 0 || heartbeat >= min {
            return Err(format!(
                "heartbeat_interval_ms ({heartbeat}) from 1 to below election_timeout_min_ms ({min}): \
                 followers that hear no heartbeat within the timeout start elections"
            ));
        }
        let at_least_one = [
            ("append_entries_max", self.append_entries_max as u64),
            ("append_bytes_max", self.append_bytes_max as u64),
            ("inflight_appends_max", self.inflight_appends_max as u64),
            ("pending_proposals_max", self.pending_proposals_max as u64),
            ("pending_reads_max", self.pending_reads_max as u64),
            ("snapshot_log_entries", self.snapshot_log_entries),
            ("snapshot_chunk_bytes", self.snapshot_chunk_bytes as u64),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} of at least 1"));
        }
        if self.clock_drift_percent >= 100 {
            return Err(format!(
                "clock_drift_percent ({}) below 100: the lease lasts the minimum election timeout less the drift",
                self.clock_drift_percent
            ));
        }
        Ok(())
    }

    pub fn election_timeout_min(&self) -> Duration {
        Duration::from_millis(self.election_timeout_min_ms.max(1))
    }

    pub fn election_timeout_max(&self) -> Duration {
        Duration::from_millis(
            self.election_timeout_max_ms
                .max(self.election_timeout_min_ms + 1),
        )
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(1))
    }

    /// How long a leader may serve lease reads after a quorum acknowledged a
    /// heartbeat it sent: the minimum election timeout less the drift bound.
    pub fn lease_duration(&self) -> Duration {
        let percent = 100u64.saturating_sub(self.clock_drift_percent.min(100));
        self.election_timeout_min() * percent as u32 / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        assert_eq!(RaftConfig::default().validate(), Ok(()));
        let with = |change: fn(&mut RaftConfig)| {
            let mut config = RaftConfig::default();
            change(&mut config);
            config.validate().unwrap_err()
        };
        let equal = with(|c| c.election_timeout_max_ms = c.election_timeout_min_ms);
        assert!(equal.contains("election_timeout_min_ms (150)"), "{equal}");
        assert!(equal.contains("election_timeout_max_ms (150)"), "{equal}");
        assert!(with(|c| c.election_timeout_min_ms = 0).contains("election_timeout_min_ms"));
        assert!(with(|c| c.heartbeat_interval_ms = 150).contains("heartbeat_interval_ms (150)"));
        assert!(with(|c| c.heartbeat_interval_ms = 0).contains("heartbeat_interval_ms"));
        assert!(with(|c| c.inflight_appends_max = 0).contains("inflight_appends_max"));
        assert!(with(|c| c.clock_drift_percent = 100).contains("clock_drift_percent"));
    }
}
