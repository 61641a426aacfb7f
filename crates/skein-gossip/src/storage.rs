//! What a gossip node keeps on disk: its key, its incarnation, its
//! membership (so a boot node that restarts still knows the overlay, and
//! the ids it has bound to keys stay bound) and the ids of the broadcasts
//! it delivered (so a restarted node does not deliver one again).
//!
//! The log holds one [`Snapshot`] (written with `Replace`) followed by
//! small `Delivered` records (written with `Append`, one per delivery, so
//! the window in which a crash forgets a delivery is one storage write).
//! Both carry [`RECORD_MAGIC`]; a record without it is read as the first
//! format's bare snapshot, so a node upgraded in place keeps its identity.
//!
//! Records are this node's own writes, so restoring them does not re-check
//! signatures; a record that does not decode is ignored (fresh identity).

use crate::identity::PublicKey;
use crate::message::{MessageId, Update};
use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use std::collections::VecDeque;

/// Prefix of every record since delivered ids are kept (format 2).
pub const RECORD_MAGIC: &[u8; 8] = b"skgsp\x02\x00\x00";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub secret: [u8; 32],
    /// The incarnation this boot uses; the next boot uses one more.
    pub incarnation: u64,
    /// The latest signed `Alive` of each live member.
    pub members: Vec<Update>,
    pub bindings: Vec<(NodeId, PublicKey)>,
    /// Ids of the last `seen_max` broadcasts delivered, oldest first.
    pub delivered_ids: Vec<MessageId>,
    /// The sequence number of the last delivery (message pages continue after it).
    pub delivered_seq: u64,
}

/// The first format's snapshot, without delivered ids.
#[derive(Deserialize)]
struct SnapshotV1 {
    secret: [u8; 32],
    incarnation: u64,
    members: Vec<Update>,
    bindings: Vec<(NodeId, PublicKey)>,
}

#[derive(Serialize, Deserialize)]
enum Record {
    Snapshot(Snapshot),
    /// One delivery, appended when it happens.
    Delivered {
        id: MessageId,
        seq: u64,
    },
}

fn encode(record: &Record) -> Vec<u8> {
    let mut bytes = RECORD_MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(record).expect("records serialize"));
    bytes
}

fn decode(bytes: &[u8]) -> Option<Record> {
    match bytes.strip_prefix(RECORD_MAGIC.as_slice()) {
        Some(body) => postcard::from_bytes(body).ok(),
        None => postcard::from_bytes::<SnapshotV1>(bytes).ok().map(|v1| {
            Record::Snapshot(Snapshot {
                secret: v1.secret,
                incarnation: v1.incarnation,
                members: v1.members,
                bindings: v1.bindings,
                delivered_ids: Vec::new(),
                delivered_seq: 0,
            })
        }),
    }
}

/// The `Append` record of one delivery.
pub fn delivered_record(id: MessageId, seq: u64) -> Vec<u8> {
    encode(&Record::Delivered { id, seq })
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        encode(&Record::Snapshot(self.clone()))
    }

    /// The last snapshot that decodes, with the deliveries appended after
    /// it folded in (keeping the newest `seen_max` ids); None without one.
    pub fn restore(records: &[Vec<u8>], seen_max: usize) -> Option<Snapshot> {
        let decoded: Vec<Record> = records.iter().filter_map(|r| decode(r)).collect();
        let at = decoded
            .iter()
            .rposition(|r| matches!(r, Record::Snapshot(_)))?;
        let mut records = decoded.into_iter().skip(at);
        let Some(Record::Snapshot(mut snapshot)) = records.next() else {
            unreachable!("position of a snapshot");
        };
        let mut ids: VecDeque<MessageId> = snapshot.delivered_ids.drain(..).collect();
        for record in records {
            if let Record::Delivered { id, seq } = record {
                ids.push_back(id);
                snapshot.delivered_seq = snapshot.delivered_seq.max(seq);
            }
        }
        let excess = ids.len().saturating_sub(seen_max);
        ids.drain(..excess);
        snapshot.delivered_ids = ids.into();
        Some(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(ids: &[u64], seq: u64) -> Snapshot {
        Snapshot {
            secret: [7; 32],
            incarnation: 3,
            members: Vec::new(),
            bindings: vec![(NodeId(2), PublicKey([1; 32]))],
            delivered_ids: ids.iter().map(|&i| MessageId(i)).collect(),
            delivered_seq: seq,
        }
    }

    #[test]
    fn the_last_readable_snapshot_wins() {
        let restored = Snapshot::restore(&[snapshot(&[], 0).encode(), vec![0xff; 3]], 8).unwrap();
        assert_eq!((restored.secret, restored.incarnation), ([7; 32], 3));
        assert!(Snapshot::restore(&[vec![1, 2]], 8).is_none());
        assert!(Snapshot::restore(&[delivered_record(MessageId(1), 1)], 8).is_none());
    }

    #[test]
    fn deliveries_appended_after_the_snapshot_are_folded_in_within_seen_max() {
        let records = [
            delivered_record(MessageId(99), 40), // before the snapshot: superseded by it
            snapshot(&[1, 2], 2).encode(),
            delivered_record(MessageId(3), 3),
            vec![0xff; 5],
            delivered_record(MessageId(4), 4),
        ];
        let restored = Snapshot::restore(&records, 8).unwrap();
        assert_eq!(restored.delivered_ids, [1, 2, 3, 4].map(MessageId).to_vec());
        assert_eq!(restored.delivered_seq, 4);
        let bounded = Snapshot::restore(&records, 3).unwrap();
        assert_eq!(bounded.delivered_ids, [2, 3, 4].map(MessageId).to_vec());
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
