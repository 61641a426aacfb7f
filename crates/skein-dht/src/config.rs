//! Settings and hard limits of the Chord core. Every queue, store and
//! message is bounded by a field here or a constant below (STYLE.md habit 3).

use serde::{Deserialize, Serialize};
use skein_core::PeerAddress;
use std::time::Duration;

/// The most replicas a key may have (the successor list is this long at most).
pub const REPLICAS_MAX: u8 = 8;
/// The most successors a peer may send in one message; more is hostile.
pub const SUCCESSORS_IN_MESSAGE_MAX: usize = REPLICAS_MAX as usize;

/// Keys left out of the config file keep their defaults; unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhtConfig {
    /// A node of the ring to join through: `ID@HOST:TCP:UDP` in the runtime,
    /// `sim:ID` in the simulator. `None`, or this node's own address, starts
    /// a new ring.
    pub join: Option<PeerAddress>,
    /// r: every key lives on its successor and the next r-1 nodes; also the
    /// successor list length.
    pub replicas: u8,
    /// The tick: every tick stabilizes with the successor and fixes one finger.
    pub tick_ms: u64,
    /// Ping the predecessor every this many ticks (check-predecessor).
    pub check_predecessor_ticks: u32,
    /// Push a batch of stored items to replicas every this many ticks.
    pub replicate_ticks: u32,
    /// A peer that does not answer within this long is taken as failed.
    pub rpc_timeout_ms: u64,
    /// A client operation that has not finished within this long fails.
    pub op_timeout_ms: u64,
    /// A lookup that needs more hops than this fails (a loop or a broken ring).
    pub lookup_hops_max: u32,
    /// Lookups restart at most this many times after a hop timed out.
    pub lookup_retries_max: u32,
    /// Items (network and local store each) a node keeps at most.
    pub keys_max: usize,
    pub key_bytes_max: usize,
    pub value_bytes_max: usize,
    /// Client operations in flight on this node; past it, `Busy`.
    pub pending_ops_max: usize,
    /// Peers this node added to its driver's peer set at most.
    pub peers_max: usize,
    /// The most item bytes in one replication message.
    pub batch_bytes_max: usize,
    /// Garbage-collect one range of stale copies or old tombstones every
    /// this many ticks (`gc.rs`).
    pub gc_ticks: u32,
    /// A tombstone is dropped (once every replica holds it) after this
    /// long. Must exceed the longest downtime after which a node restarts
    /// with its data, or a key deleted meanwhile comes back.
    pub tombstone_ttl_ms: u64,
}

impl Default for DhtConfig {
    fn default() -> Self {
        Self {
            join: None,
            replicas: 3,
            tick_ms: 100,
            check_predecessor_ticks: 3,
            replicate_ticks: 5,
            rpc_timeout_ms: 400,
            op_timeout_ms: 3_000,
            lookup_hops_max: 48,
            lookup_retries_max: 3,
            keys_max: 100_000,
            key_bytes_max: 1024,
            value_bytes_max: 64 * 1024,
            pending_ops_max: 1024,
            peers_max: 256,
            batch_bytes_max: 256 * 1024,
            gc_ticks: 10,
            tombstone_ttl_ms: 24 * 3_600_000,
        }
    }
}

impl DhtConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=REPLICAS_MAX).contains(&self.replicas) {
            return Err(format!(
                "dht.replicas must be 1..={REPLICAS_MAX}, not {}",
                self.replicas
            ));
        }
        if self.tick_ms == 0
            || self.check_predecessor_ticks == 0
            || self.replicate_ticks == 0
            || self.gc_ticks == 0
        {
            return Err("dht.tick_ms and the *_ticks settings must be at least 1".into());
        }
        if self.rpc_timeout_ms < self.tick_ms {
            return Err(format!(
                "dht.rpc_timeout_ms ({}) must be at least dht.tick_ms ({}): timeouts are checked on ticks",
                self.rpc_timeout_ms, self.tick_ms
            ));
        }
        if self.value_bytes_max + self.key_bytes_max > self.batch_bytes_max {
            return Err(
                "dht.batch_bytes_max must hold one key and value of the largest size".into(),
            );
        }
        if self.peers_max < 2 * usize::from(self.replicas) + 2 {
            return Err("dht.peers_max must leave room for the successor list and fingers".into());
        }
        if self.keys_max == 0 || self.pending_ops_max == 0 || self.lookup_hops_max == 0 {
            return Err(
                "dht.keys_max, pending_ops_max and lookup_hops_max must be at least 1".into(),
            );
        }
        Ok(())
    }

    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    pub fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.op_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(DhtConfig::default().validate(), Ok(()));
        let zero = DhtConfig {
            replicas: 0,
            ..DhtConfig::default()
        };
        assert!(zero.validate().unwrap_err().contains("dht.replicas"));
        let fast = DhtConfig {
            rpc_timeout_ms: 10,
            ..DhtConfig::default()
        };
        assert!(fast.validate().unwrap_err().contains("rpc_timeout_ms"));
    }
}
