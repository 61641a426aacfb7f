//! What a gossip node keeps on disk: its key, its incarnation and its
//! membership (so a boot node that restarts still knows the overlay, and
//! the ids it has bound to keys stay bound). One record, replaced whole.
//!
//! Records are this node's own writes, so restoring them does not re-check
//! signatures; a record that does not decode is ignored (fresh identity).

use crate::identity::PublicKey;
use crate::message::Update;
use serde::{Deserialize, Serialize};
use skein_core::NodeId;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub secret: [u8; 32],
    /// The incarnation this boot uses; the next boot uses one more.
    pub incarnation: u64,
    /// The latest signed `Alive` of each live member.
    pub members: Vec<Update>,
    pub bindings: Vec<(NodeId, PublicKey)>,
}

impl Snapshot {
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("snapshots serialize")
    }

    /// The last record that decodes, if any.
    pub fn restore(records: &[Vec<u8>]) -> Option<Snapshot> {
        records
            .iter()
            .rev()
            .find_map(|r| postcard::from_bytes::<Snapshot>(r).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_readable_record_wins() {
        let snap = Snapshot {
            secret: [7; 32],
            incarnation: 3,
            members: Vec::new(),
            bindings: vec![(NodeId(2), PublicKey([1; 32]))],
        };
        let restored = Snapshot::restore(&[snap.encode(), vec![0xff; 3]]).unwrap();
        assert_eq!((restored.secret, restored.incarnation), ([7; 32], 3));
        assert!(Snapshot::restore(&[vec![1, 2]]).is_none());
    }
}
