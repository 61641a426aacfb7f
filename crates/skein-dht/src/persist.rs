//! What a dht node keeps on disk, so a restarted node comes back with its
//! data and its place in the ring instead of rejoining empty.
//!
//! The log is one [`Snapshot`] (written with `Replace`) followed by small
//! records (`Append`, at most one per step, batching that step's changes):
//! every change of either store, and the routing state every
//! [`ROUTING_SAVE_TICKS`] ticks when it changed. Once the
//! records since the snapshot outnumber twice the stored items (and at
//! least [`COMPACT_RECORDS_MIN`]), a new snapshot replaces them all, so
//! the log stays within a constant factor of the store.
//!
//! Writes are not awaited before the network store acknowledges: a key is
//! acknowledged once r replicas hold it, so one lost disk write is repaired
//! by replication like a crash is. Local-store writes have no replica: their
//! reply waits for `Persisted`.
//!
//! On boot the records are replayed in order; a record that does not decode
//! (a torn tail) is skipped. Restored routing state is only a starting
//! point: stabilize, check-predecessor and fix-fingers correct it as they
//! would after any change in the ring. A snapshot computed from a known
//! membership is also how the lean scale driver starts a converged ring
//! (`skein-sim`'s `services::dht::scale`).

use crate::message::{Item, NodeRef};
use crate::request::FingerRun;
use crate::ring::RING_BITS;
use crate::routing::Routing;
use serde::{Deserialize, Serialize};

/// Prefix of every record (format 1).
pub const RECORD_MAGIC: &[u8; 8] = b"skdht\x01\x00\x00";
/// A snapshot larger than this is not written (the node keeps appending
/// and counts `snapshots_skipped`): the runtime refuses records over 64 MiB.
pub const SNAPSHOT_BYTES_MAX: usize = 48 << 20;
/// Appended records before compaction is considered at all.
pub const COMPACT_RECORDS_MIN: u64 = 1024;
/// The routing state is saved every this many ticks, if it changed.
pub const ROUTING_SAVE_TICKS: u64 = 50;

/// Predecessor, successor list and finger table, as saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRouting {
    pub predecessor: Option<NodeRef>,
    pub successors: Vec<NodeRef>,
    pub fingers: Vec<FingerRun>,
}

impl SavedRouting {
    pub fn of(routing: &Routing) -> Self {
        Self {
            predecessor: routing.predecessor.clone(),
            successors: routing.successors.clone(),
            fingers: routing.finger_runs(),
        }
    }

    /// Puts the saved state into `routing`, dropping whatever a well-formed
    /// node could not have saved (itself, forged ids, duplicates, too many).
    pub fn apply_to(&self, routing: &mut Routing) {
        let me = routing.me.id;
        let usable = |n: &NodeRef| n.id != me && n.is_consistent();
        routing.predecessor = self.predecessor.clone().filter(usable);
        let mut successors: Vec<NodeRef> = Vec::new();
        for s in self.successors.iter().filter(|s| usable(s)) {
            if successors.len() < routing.successors_max()
                && successors.iter().all(|m| m.id != s.id)
            {
                successors.push(s.clone());
            }
        }
        routing.successors = successors;
        routing.fingers.iter_mut().for_each(|f| *f = None);
        for run in self.fingers.iter().filter(|r| usable(&r.node)) {
            let to = usize::from(run.to_index).min(RING_BITS - 1);
            for slot in &mut routing.fingers[usize::from(run.from_index).min(to)..=to] {
                *slot = Some(run.node.clone());
            }
        }
    }
}

/// Everything a node needs to come back: both stores, its version clock
/// and its routing state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub network: Vec<Item>,
    pub local: Vec<Item>,
    pub lamport: u64,
    pub routing: SavedRouting,
}

impl Snapshot {
    /// The bytes of a `Replace` record holding this snapshot.
    pub fn encode(&self) -> Vec<u8> {
        encode(&RecordRef::Snapshot(self))
    }
}

/// Which of a node's two stores a record changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreKind {
    Network,
    Local,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Record {
    Snapshot(Snapshot),
    /// An item stored (or replaced by a newer version).
    Put {
        store: StoreKind,
        item: Item,
    },
    /// A key removed outright (local delete, garbage collection).
    Remove {
        store: StoreKind,
        key: String,
    },
    Routing(SavedRouting),
    /// A graceful leave: the network store and routing state are gone.
    Left,
    /// The changes of one step, written as one record (one disk write per
    /// step however many items a replication message brought).
    Batch(Vec<Record>),
}

/// Borrowing twin of [`Record`] for encoding without cloning a snapshot;
/// postcard encodes both the same way.
#[derive(Serialize)]
enum RecordRef<'a> {
    Snapshot(&'a Snapshot),
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    let mut bytes = RECORD_MAGIC.to_vec();
    bytes.extend(postcard::to_stdvec(record).expect("records serialize"));
    bytes
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// `None` for bytes that are not a record of this format (a torn write).
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        postcard::from_bytes(bytes.strip_prefix(RECORD_MAGIC.as_slice())?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Version;
    use skein_core::{NodeId, PeerAddress};

    fn node(id: u16) -> NodeRef {
        NodeRef::new(NodeId(id), PeerAddress(format!("sim:{id}")))
    }

    #[test]
    fn records_round_trip_and_torn_ones_are_refused() {
        let snapshot = Snapshot {
            network: vec![Item {
                key: "k".into(),
                value: None,
                version: Version {
                    counter: 3,
                    writer: 2,
                },
            }],
            local: Vec::new(),
            lamport: 9,
            routing: SavedRouting::default(),
        };
        let bytes = snapshot.encode();
        let Some(Record::Snapshot(back)) = Record::decode(&bytes) else {
            panic!("a snapshot decodes as one");
        };
        assert_eq!(back.network, snapshot.network);
        assert_eq!(back.lamport, 9);
        assert!(Record::decode(&bytes[..bytes.len() - 1]).is_none(), "torn");
        assert!(Record::decode(b"garbage!garbage").is_none());
    }

    #[test]
    fn restored_routing_drops_what_no_node_could_have_saved() {
        let mut routing = Routing::new(node(1), 2);
        let mut forged = node(5);
        forged.ring = node(6).ring;
        let saved = SavedRouting {
            predecessor: Some(node(1)),
            successors: vec![node(2), node(1), forged, node(2), node(3), node(4)],
            fingers: vec![FingerRun {
                from_index: 150,
                to_index: 250,
                node: node(3),
            }],
        };
        saved.apply_to(&mut routing);
        assert_eq!(routing.predecessor, None, "never itself");
        let ids: Vec<u16> = routing.successors.iter().map(|n| n.id.0).collect();
        assert_eq!(ids, [2, 3], "itself, forged, duplicates and extras dropped");
        assert_eq!(routing.fingers[159], Some(node(3)), "clamped to the table");
        assert_eq!(routing.fingers[149], None);
    }
}
