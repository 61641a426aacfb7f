//! The simulated disk of one node: an ordered list of durable records plus a
//! FIFO queue of writes not yet synced. A write becomes durable when its
//! completion event fires, and only then does the node get `Persisted`.
//!
//! On a crash the un-synced queue suffers what real disks do: a prefix of it
//! may have reached the platter, the next write may be torn (an `Append`
//! keeps a truncated or garbled record; a `Replace` is atomic, so it is simply
//! lost), and everything after it is gone.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use skein_core::protocol::apply_write;
use skein_core::StorageWrite;
use std::collections::VecDeque;

/// Writes a node may have queued and not yet synced; beyond it the run stops
/// with a violation, because a core that never waits for `Persisted` would
/// otherwise grow the queue without bound.
pub const PENDING_WRITES_MAX: usize = 4_096;

#[derive(Clone, Debug, PartialEq)]
pub struct DiskConfig {
    pub sync_latency_min_us: u64,
    pub sync_latency_max_us: u64,
    /// On a crash, each un-synced write in order survives with this chance
    /// until the first one that does not.
    pub survive_probability: f64,
    /// The first lost write is torn (partly written) with this chance.
    pub tear_probability: f64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            sync_latency_min_us: 100,
            sync_latency_max_us: 2_000,
            survive_probability: 0.5,
            tear_probability: 0.5,
        }
    }
}

#[derive(Clone, Debug)]
struct PendingWrite {
    seq: u64,
    token: u64,
    write: StorageWrite,
}

/// What a crash did to the un-synced writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashDamage {
    pub survived: u64,
    pub lost: u64,
    pub torn: u64,
}

#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    durable: Vec<Vec<u8>>,
    pending: VecDeque<PendingWrite>,
    next_seq: u64,
    /// Completion time of the last queued write: syncs finish in order.
    tail_us: u64,
}

impl SimDisk {
    pub fn records(&self) -> &[Vec<u8>] {
        &self.durable
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Queues a write; returns its sequence number and when it becomes durable,
    /// or `None` when the queue is full.
    pub fn write(
        &mut self,
        rng: &mut ChaCha8Rng,
        cfg: &DiskConfig,
        now_us: u64,
        token: u64,
        write: StorageWrite,
    ) -> Option<(u64, u64)> {
        if self.pending.len() >= PENDING_WRITES_MAX {
            return None;
        }
        let latency_us = rng.random_range(
            cfg.sync_latency_min_us..=cfg.sync_latency_max_us.max(cfg.sync_latency_min_us),
        );
        let done_us = (now_us + latency_us).max(self.tail_us);
        self.tail_us = done_us;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(PendingWrite { seq, token, write });
        Some((seq, done_us))
    }

    /// Makes write `seq` durable (with every earlier one); returns its token.
    pub fn complete(&mut self, seq: u64) -> Option<u64> {
        let mut token = None;
        while self.pending.front().is_some_and(|w| w.seq <= seq) {
            let w = self.pending.pop_front().expect("checked non-empty");
            apply_write(&mut self.durable, &w.write);
            if w.seq == seq {
                token = Some(w.token);
            }
        }
        token
    }

    pub fn crash(&mut self, rng: &mut ChaCha8Rng, cfg: &DiskConfig) -> CrashDamage {
        let mut damage = CrashDamage::default();
        let mut failed = false;
        while let Some(w) = self.pending.pop_front() {
            if failed {
                damage.lost += 1;
            } else if rng.random_bool(cfg.survive_probability) {
                apply_write(&mut self.durable, &w.write);
                damage.survived += 1;
            } else {
                failed = true;
                match w.write {
                    StorageWrite::Append(bytes) if rng.random_bool(cfg.tear_probability) => {
                        self.durable.push(tear(rng, bytes));
                        damage.torn += 1;
                    }
                    _ => damage.lost += 1,
                }
            }
        }
        self.tail_us = 0;
        damage
    }
}

/// A torn record: a strict prefix, with its last byte possibly garbled.
fn tear(rng: &mut ChaCha8Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    let keep = if bytes.is_empty() {
        0
    } else {
        rng.random_range(0..bytes.len())
    };
    bytes.truncate(keep);
    if let Some(last) = bytes.last_mut() {
        *last ^= rng.random::<u8>() | 1;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn synced_writes_survive_and_unsynced_ones_may_be_lost_or_torn() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let cfg = DiskConfig {
            survive_probability: 0.0,
            tear_probability: 1.0,
            ..DiskConfig::default()
        };
        let mut disk = SimDisk::default();
        let (a, _) = disk
            .write(&mut rng, &cfg, 0, 1, StorageWrite::Append(vec![1; 8]))
            .unwrap();
        disk.write(&mut rng, &cfg, 0, 2, StorageWrite::Append(vec![2; 8]))
            .unwrap();
        disk.write(&mut rng, &cfg, 0, 3, StorageWrite::Append(vec![3; 8]))
            .unwrap();
        assert_eq!(disk.complete(a), Some(1));
        let damage = disk.crash(&mut rng, &cfg);
        assert_eq!(
            damage,
            CrashDamage {
                survived: 0,
                lost: 1,
                torn: 1
            }
        );
        assert_eq!(disk.records()[0], vec![1; 8]);
        assert_eq!(disk.records().len(), 2);
        assert!(
            disk.records()[1].len() < 8,
            "torn record is a strict prefix"
        );
    }

    #[test]
    fn syncs_complete_in_write_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = DiskConfig::default();
        let mut disk = SimDisk::default();
        let (_, first) = disk
            .write(&mut rng, &cfg, 0, 1, StorageWrite::Replace(vec![1]))
            .unwrap();
        let (b, second) = disk
            .write(&mut rng, &cfg, 0, 2, StorageWrite::Append(vec![2]))
            .unwrap();
        assert!(second >= first);
        assert_eq!(disk.complete(b), Some(2));
        assert_eq!(disk.records(), &[vec![1], vec![2]]);
    }
}
