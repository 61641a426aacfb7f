//! What a gossip node keeps on disk: its key, its incarnation, its
//! membership (so a boot node that restarts still knows the overlay, and
//! the ids it has bound to keys stay bound) and the broadcasts it
//! delivered and its per-origin floors (so a restarted node does not
//! deliver one again).
//!
//! The log holds one [`Snapshot`] (written with `Replace`) followed by
//! small `Delivered` records (written with `Append`, one per delivery, so
//! the window in which a crash forgets a delivery is one storage write).
//! Both carry [`RECORD_MAGIC`]; a record without it is read as the first
//! format's bare snapshot, so a node upgraded in place keeps its identity.
//!
//! Format 3 adds each delivery's origin and stamp, the per-origin floors
//! (`floors.rs`) and the boot number behind this node's own stamps, so
//! exactly-once holds across a restart for ids the seen-cache forgot; a
//! format-2 log restores with unstamped ids, no floors and boot number 0.
//!
//! Records are this node's own writes, so restoring them does not re-check
//! signatures; a record that does not decode is ignored (fresh identity).

use crate::floors::{Floors, Stamp};
use crate::identity::PublicKey;
use crate::message::{MessageId, Update};
use crate::plumtree::SeenId;
use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use std::collections::VecDeque;

/// Prefix of every record since stamps and floors are kept (format 3).
pub const RECORD_MAGIC: &[u8; 8] = b"skgsp\x03\x00\x00";
/// Prefix of format 2 (delivered ids without stamps); still read.
const RECORD_MAGIC_V2: &[u8; 8] = b"skgsp\x02\x00\x00";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub secret: [u8; 32],
    /// The incarnation this boot uses; the next boot uses one more.
    pub incarnation: u64,
    /// This node's boot number, the high half of its broadcasts' stamps;
    /// the next boot uses one more, so its stamps are all higher.
    pub boots: u64,
    /// The latest signed `Alive` of each live member.
    pub members: Vec<Update>,
    pub bindings: Vec<(NodeId, PublicKey)>,
    /// The last `seen_max` broadcasts delivered, oldest first.
    pub delivered_ids: Vec<SeenId>,
    /// The sequence number of the last delivery (message pages continue after it).
    pub delivered_seq: u64,
    /// Per-origin floors, least recently raised first (`floors.rs`).
    pub floors: Vec<(NodeId, Stamp)>,
}

/// The first format's snapshot, without delivered ids.
#[derive(Deserialize)]
struct SnapshotV1 {
    secret: [u8; 32],
    incarnation: u64,
    members: Vec<Update>,
    bindings: Vec<(NodeId, PublicKey)>,
}

/// The second format's snapshot: delivered ids without stamps, no floors.
/// (Serialize only for the tests, which write second-format logs.)
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct SnapshotV2 {
    secret: [u8; 32],
    incarnation: u64,
    members: Vec<Update>,
    bindings: Vec<(NodeId, PublicKey)>,
    delivered_ids: Vec<MessageId>,
    delivered_seq: u64,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
enum RecordV2 {
    Snapshot(SnapshotV2),
    Delivered { id: MessageId, seq: u64 },
}

#[derive(Serialize, Deserialize)]
enum Record {
    Snapshot(Snapshot),
    /// One delivery, appended when it happens.
    Delivered {
        delivered: SeenId,
        seq: u64,
    },
}

fn encode(record: &Record) -> Vec<u8> {
    let mut bytes = RECORD_MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(record).expect("records serialize"));
    bytes
}

fn unstamped(id: MessageId) -> SeenId {
    SeenId {
        id,
        origin_stamp: None,
    }
}

fn decode(bytes: &[u8]) -> Option<Record> {
    if let Some(body) = bytes.strip_prefix(RECORD_MAGIC.as_slice()) {
        return postcard::from_bytes(body).ok();
    }
    if let Some(body) = bytes.strip_prefix(RECORD_MAGIC_V2.as_slice()) {
        return Some(match postcard::from_bytes::<RecordV2>(body).ok()? {
            RecordV2::Snapshot(v2) => Record::Snapshot(Snapshot {
                secret: v2.secret,
                incarnation: v2.incarnation,
                boots: 0,
                members: v2.members,
                bindings: v2.bindings,
                delivered_ids: v2.delivered_ids.into_iter().map(unstamped).collect(),
                delivered_seq: v2.delivered_seq,
                floors: Vec::new(),
            }),
            RecordV2::Delivered { id, seq } => Record::Delivered {
                delivered: unstamped(id),
                seq,
            },
        });
    }
    postcard::from_bytes::<SnapshotV1>(bytes).ok().map(|v1| {
        Record::Snapshot(Snapshot {
            secret: v1.secret,
            incarnation: v1.incarnation,
            boots: 0,
            members: v1.members,
            bindings: v1.bindings,
            delivered_ids: Vec::new(),
            delivered_seq: 0,
            floors: Vec::new(),
        })
    })
}

/// The `Append` record of one delivery.
pub fn delivered_record(delivered: SeenId, seq: u64) -> Vec<u8> {
    encode(&Record::Delivered { delivered, seq })
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        encode(&Record::Snapshot(self.clone()))
    }

    /// The last snapshot that decodes, with the deliveries appended after
    /// it folded in (keeping the newest `seen_max` ids; the ones that fall
    /// out raise their origins' floors, as the seen-cache's evictions do);
    /// None without one.
    pub fn restore(records: &[Vec<u8>], seen_max: usize) -> Option<Snapshot> {
        let decoded: Vec<Record> = records.iter().filter_map(|r| decode(r)).collect();
        let at = decoded
            .iter()
            .rposition(|r| matches!(r, Record::Snapshot(_)))?;
        let mut records = decoded.into_iter().skip(at);
        let Some(Record::Snapshot(mut snapshot)) = records.next() else {
            unreachable!("position of a snapshot");
        };
        let mut ids: VecDeque<SeenId> = snapshot.delivered_ids.drain(..).collect();
        for record in records {
            if let Record::Delivered { delivered, seq } = record {
                ids.push_back(delivered);
                snapshot.delivered_seq = snapshot.delivered_seq.max(seq);
            }
        }
        let excess = ids.len().saturating_sub(seen_max);
        let mut floors = Floors::from_entries(&snapshot.floors);
        for forgotten in ids.drain(..excess) {
            if let Some((origin, stamp)) = forgotten.origin_stamp {
                floors.raise(origin, stamp);
            }
        }
        snapshot.floors = floors.entries();
        snapshot.delivered_ids = ids.into();
        Some(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(id: u64) -> SeenId {
        SeenId {
            id: MessageId(id),
            origin_stamp: Some((NodeId(id as u16 % 2), id)),
        }
    }

    fn snapshot(ids: &[u64], seq: u64) -> Snapshot {
        Snapshot {
            secret: [7; 32],
            incarnation: 3,
            boots: 4,
            members: Vec::new(),
            bindings: vec![(NodeId(2), PublicKey([1; 32]))],
            delivered_ids: ids.iter().map(|&i| stamped(i)).collect(),
            delivered_seq: seq,
            floors: vec![(NodeId(1), 1)],
        }
    }

    fn ids(snapshot: &Snapshot) -> Vec<u64> {
        snapshot.delivered_ids.iter().map(|d| d.id.0).collect()
    }

    #[test]
    fn the_last_readable_snapshot_wins() {
        let restored = Snapshot::restore(&[snapshot(&[], 0).encode(), vec![0xff; 3]], 8).unwrap();
        assert_eq!((restored.secret, restored.incarnation), ([7; 32], 3));
        assert_eq!(restored.boots, 4);
        assert!(Snapshot::restore(&[vec![1, 2]], 8).is_none());
        assert!(Snapshot::restore(&[delivered_record(stamped(1), 1)], 8).is_none());
    }

    #[test]
    fn deliveries_appended_after_the_snapshot_are_folded_in_within_seen_max() {
        let records = [
            delivered_record(stamped(99), 40), // before the snapshot: superseded by it
            snapshot(&[1, 2], 2).encode(),
            delivered_record(stamped(3), 3),
            vec![0xff; 5],
            delivered_record(stamped(4), 4),
        ];
        let restored = Snapshot::restore(&records, 8).unwrap();
        assert_eq!(ids(&restored), [1, 2, 3, 4]);
        assert_eq!(restored.delivered_seq, 4);
        assert_eq!(restored.floors, [(NodeId(1), 1)], "nothing forgotten");
        let bounded = Snapshot::restore(&records, 2).unwrap();
        assert_eq!(ids(&bounded), [3, 4]);
    }

    /// Ids that fall out of the restored seen-cache raise their origins'
    /// floors, as the cache's evictions do while running: otherwise a
    /// restart would forget that they were delivered (issue 7, seed 144).
    #[test]
    fn ids_forgotten_on_restore_raise_their_origins_floors() {
        let records = [
            snapshot(&[1, 2, 5], 5).encode(),
            delivered_record(stamped(6), 6),
            delivered_record(stamped(7), 7),
        ];
        let restored = Snapshot::restore(&records, 2).unwrap();
        assert_eq!(ids(&restored), [6, 7]);
        let floors = Floors::from_entries(&restored.floors);
        assert_eq!(floors.floor(NodeId(0)), Some(2));
        assert_eq!(floors.floor(NodeId(1)), Some(5));
        let again = Snapshot::restore(&[restored.encode()], 2).unwrap();
        assert_eq!(
            again.floors, restored.floors,
            "floors are kept in the snapshot"
        );
    }

    #[test]
    fn a_second_format_log_restores_unstamped_with_no_floors() {
        let v2 = |record: &RecordV2| {
            let mut bytes = RECORD_MAGIC_V2.to_vec();
            bytes.extend(postcard::to_stdvec(record).unwrap());
            bytes
        };
        let snapshot = RecordV2::Snapshot(SnapshotV2 {
            secret: [8; 32],
            incarnation: 2,
            members: Vec::new(),
            bindings: Vec::new(),
            delivered_ids: vec![MessageId(1), MessageId(2)],
            delivered_seq: 2,
        });
        let delivered = RecordV2::Delivered {
            id: MessageId(3),
            seq: 3,
        };
        let restored = Snapshot::restore(&[v2(&snapshot), v2(&delivered)], 2).unwrap();
        assert_eq!((restored.secret, restored.incarnation), ([8; 32], 2));
        assert_eq!((ids(&restored), restored.delivered_seq), (vec![2, 3], 3));
        assert!(restored
            .delivered_ids
            .iter()
            .all(|d| d.origin_stamp.is_none()));
        assert!(restored.floors.is_empty() && restored.boots == 0);
    }

    #[test]
    fn a_first_format_record_keeps_its_identity() {
        #[derive(Serialize)]
        struct V1 {
            secret: [u8; 32],
            incarnation: u64,
            members: Vec<Update>,
            bindings: Vec<(NodeId, PublicKey)>,
        }
        let old = postcard::to_stdvec(&V1 {
            secret: [9; 32],
            incarnation: 5,
            members: Vec::new(),
            bindings: Vec::new(),
        })
        .unwrap();
        let restored = Snapshot::restore(&[old], 8).unwrap();
        assert_eq!((restored.secret, restored.incarnation), ([9; 32], 5));
        assert!(restored.delivered_ids.is_empty());
    }
}
