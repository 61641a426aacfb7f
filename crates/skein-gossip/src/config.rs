//! The gossip settings, with the original's defaults where it had them
//! (peer sync every 60 s plus up to 30 s of jitter) and SWIM/Plumtree
//! defaults from the papers elsewhere. Every buffer has its limit here.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Gossip settings; `[gossip]` in TOML, `SKEIN_GOSSIP_<KEY>` or `--set KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// Node ids to join through; empty means every static member the driver
    /// starts with (the runtime's `--boot` / `--peers`).
    pub boot: Vec<u16>,
    /// Seconds between peer syncs (the original's NETWORK_SYNC_INTERVAL).
    pub network_sync_interval: u64,
    /// Up to this many seconds of jitter on each sync (NETWORK_SYNC_JITTER).
    pub network_sync_jitter: u64,
    /// SWIM protocol period: one probe per period.
    pub probe_interval_ms: u64,
    /// Wait for a direct ack before asking `indirect_probes` peers to probe.
    pub probe_timeout_ms: u64,
    /// SWIM's k: peers asked to probe an unresponsive one on our behalf.
    pub indirect_probes: usize,
    /// A suspect not refuted within this long is declared dead.
    pub suspicion_timeout_ms: u64,
    /// A dead or departed member is forgotten after this long.
    pub dead_expiry_ms: u64,
    /// Wait after an IHAVE before grafting the message from its announcer.
    pub graft_timeout_ms: u64,
    /// Initial eager-push peers (Plumtree's tree starts from them).
    pub eager_fanout: usize,
    /// Extra random members told of each message by IHAVE, so a broken tree repairs.
    pub lazy_fanout: usize,
    /// Retransmit each membership update `retransmit_mult * log2(n)` times (SWIM's λ).
    pub retransmit_mult: u32,
    /// Members known at once, this node aside.
    pub members_max: usize,
    /// Members sharing one IPv4 /24 (or one IPv6 /64); Sybil limit.
    pub members_per_subnet_max: usize,
    /// Joins admitted per second by a boot node (token bucket, burst of the same size).
    pub join_rate_per_sec: u32,
    /// Leading zero bits required of sha256(key ‖ nonce) on join; 0 turns it off.
    pub pow_difficulty_bits: u8,
    /// Broadcast payloads larger than this are refused.
    pub payload_bytes_max: usize,
    /// Message ids remembered for duplicate suppression.
    pub seen_max: usize,
    /// Messages kept to answer grafts and to list at `/gossip/messages`.
    pub messages_max: usize,
    /// This node is a beacon: every node reports its first delivery of each message here.
    pub beacon: bool,
    /// Messages a beacon keeps traces for.
    pub traces_max: usize,
    /// Driver tick; deadlines are checked on ticks.
    pub tick_ms: u64,
    /// Anti-entropy offers messages delivered (by the ordinary spread)
    /// within this many seconds. Exactly-once needs a node to deliver fewer
    /// than `seen_max` messages in this window (91/s at the defaults).
    pub anti_entropy_window_secs: u64,
}

impl Default for GossipConfig {
    fn default() -> Self {
        Self {
            boot: Vec::new(),
            network_sync_interval: 60,
            network_sync_jitter: 30,
            probe_interval_ms: 1_000,
            probe_timeout_ms: 400,
            indirect_probes: 3,
            suspicion_timeout_ms: 5_000,
            dead_expiry_ms: 60_000,
            graft_timeout_ms: 300,
            eager_fanout: 4,
            lazy_fanout: 2,
            retransmit_mult: 3,
            members_max: 1_024,
            members_per_subnet_max: 64,
            join_rate_per_sec: 50,
            pow_difficulty_bits: 0,
            payload_bytes_max: 16 * 1024,
            seen_max: 16_384,
            messages_max: 1_024,
            beacon: false,
            traces_max: 64,
            tick_ms: 50,
            anti_entropy_window_secs: 180,
        }
    }
}

/// Hard ceilings the settings are checked against, so a typo cannot ask for
/// unbounded memory.
pub const MEMBERS_CEILING: usize = 65_536;
pub const PAYLOAD_BYTES_CEILING: usize = 256 * 1024;
pub const CACHE_CEILING: usize = 1 << 20;
/// Difficulty beyond this takes a joiner minutes; refused.
pub const POW_BITS_CEILING: u8 = 24;

impl GossipConfig {
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 12] = [
            (
                self.network_sync_interval >= 1,
                "network_sync_interval must be at least 1 s",
            ),
            (
                self.probe_interval_ms >= 10,
                "probe_interval_ms must be at least 10",
            ),
            (
                self.probe_timeout_ms >= 1 && self.probe_timeout_ms < self.probe_interval_ms,
                "probe_timeout_ms must be at least 1 and below probe_interval_ms",
            ),
            (
                self.suspicion_timeout_ms >= self.probe_interval_ms,
                "suspicion_timeout_ms must be at least probe_interval_ms",
            ),
            (
                self.tick_ms >= 1 && self.tick_ms <= self.probe_timeout_ms,
                "tick_ms must be from 1 to probe_timeout_ms",
            ),
            (
                (1..=MEMBERS_CEILING).contains(&self.members_max),
                "members_max must be from 1 to 65536",
            ),
            (
                self.members_per_subnet_max >= 1,
                "members_per_subnet_max must be at least 1",
            ),
            (
                (1..=PAYLOAD_BYTES_CEILING).contains(&self.payload_bytes_max),
                "payload_bytes_max must be from 1 to 262144",
            ),
            (
                (1..=CACHE_CEILING).contains(&self.seen_max)
                    && (1..=self.seen_max).contains(&self.messages_max),
                "seen_max must be from 1 to 1048576 and messages_max from 1 to seen_max",
            ),
            (
                self.pow_difficulty_bits <= POW_BITS_CEILING,
                "pow_difficulty_bits must be at most 24",
            ),
            (
                (1..=86_400).contains(&self.anti_entropy_window_secs),
                "anti_entropy_window_secs must be from 1 to 86400",
            ),
            (
                self.eager_fanout >= 1 && self.traces_max >= 1,
                "eager_fanout and traces_max must be at least 1",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(format!("gossip: {why}")),
            None => Ok(()),
        }
    }

    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }
    pub fn probe_timeout(&self) -> Duration {
        Duration::from_millis(self.probe_timeout_ms)
    }
    pub fn suspicion_timeout(&self) -> Duration {
        Duration::from_millis(self.suspicion_timeout_ms)
    }
    pub fn dead_expiry(&self) -> Duration {
        Duration::from_millis(self.dead_expiry_ms)
    }
    pub fn graft_timeout(&self) -> Duration {
        Duration::from_millis(self.graft_timeout_ms)
    }
    pub fn anti_entropy_window(&self) -> Duration {
        Duration::from_secs(self.anti_entropy_window_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_follow_the_original() {
        let c = GossipConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.network_sync_interval, c.network_sync_jitter), (60, 30));
    }

    #[test]
    fn unbounded_or_inconsistent_settings_are_refused() {
        let bad = GossipConfig {
            members_max: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("members_max"));
        let bad = GossipConfig {
            probe_timeout_ms: 2_000,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("probe_timeout_ms"));
        let bad = GossipConfig {
            pow_difficulty_bits: 40,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("pow"));
    }
}
