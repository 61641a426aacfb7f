//! Durable records and their replay at boot; tracking which writes are durable.
//!
//! Record format (one storage record each):
//! `[version: u8 = 2][crc32 of body: u32 LE][body: postcard(Record)]`.
//! A record whose checksum fails is a torn write from a crash; replay stops
//! there (only a write never confirmed can be torn, so nothing acknowledged
//! is lost).

use crate::kv::Kv;
use crate::log::RaftLog;
use crate::membership::{Membership, MembershipLog};
use crate::message::{Entry, Payload, SnapshotMeta};
use serde::{Deserialize, Serialize};
use skein_core::NodeId;
use std::collections::BTreeMap;

/// 2: configurations carry peer addresses (`Membership::addresses`). A
/// version-1 record is not misread as 2: replay stops at it like at a torn
/// record (`records_skipped`), so a data directory from before must be
/// started fresh.
const RECORD_VERSION: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Term and vote (Raft Figure 2 "persistent state"), appended on change.
    HardState {
        term: u64,
        voted_for: Option<NodeId>,
    },
    /// Contiguous entries. If the first index is at or below the current
    /// last index, the log is truncated there first (a conflict overwrite).
    Entries { entries: Vec<Entry> },
    /// Written with `Replace`: the whole durable state after a snapshot.
    Snapshot {
        term: u64,
        voted_for: Option<NodeId>,
        meta: SnapshotMeta,
        data: Vec<u8>,
        entries: Vec<Entry>,
    },
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_stdvec(self).expect("records always encode");
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// `None` for a torn or foreign record.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, rest) = bytes.split_first()?;
        if version != RECORD_VERSION || rest.len() < 4 {
            return None;
        }
        let (crc, body) = rest.split_at(4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        postcard::from_bytes(body).ok()
    }
}

/// What boot rebuilds from the records.
#[derive(Debug, Default)]
pub struct Recovered {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: RaftLog,
    pub memberships: MembershipLog,
    pub snapshot: SnapshotMeta,
    pub snapshot_data: Vec<u8>,
    pub kv: Kv,
    /// Records that did not decode (a torn tail); 0 or 1 in practice.
    pub records_skipped: usize,
}

/// Replays `records` in order. `initial` is the membership before any
/// configuration entry or snapshot.
pub fn replay(records: &[Vec<u8>], initial: Membership) -> Recovered {
    let mut out = Recovered::default();
    let mut snapshot_membership = initial;
    for (position, bytes) in records.iter().enumerate() {
        let Some(record) = Record::decode(bytes) else {
            out.records_skipped = records.len() - position;
            break;
        };
        match record {
            Record::HardState { term, voted_for } => {
                assert!(term >= out.term, "persisted terms never decrease");
                out.term = term;
                out.voted_for = voted_for;
            }
            Record::Entries { entries } => append_replayed(&mut out.log, entries),
            Record::Snapshot {
                term,
                voted_for,
                meta,
                data,
                entries,
            } => {
                out.term = term;
                out.voted_for = voted_for;
                out.log = RaftLog::new(meta.last, Vec::new());
                append_replayed(&mut out.log, entries);
                snapshot_membership = meta.membership.clone();
                out.kv = Kv::decode(&data).expect("a checksummed snapshot decodes");
                out.snapshot = meta;
                out.snapshot_data = data;
            }
        }
    }
    let mut memberships = MembershipLog::new(out.log.snapshot_last().index, snapshot_membership);
    for entry in out.log.entries() {
        if let Payload::Config(m) = &entry.payload {
            memberships.push(entry.index, m.clone());
        }
    }
    out.memberships = memberships;
    out
}

fn append_replayed(log: &mut RaftLog, entries: Vec<Entry>) {
    let Some(first) = entries.first() else { return };
    assert!(
        first.index <= log.last_index() + 1,
        "replayed entries leave no gap"
    );
    if first.index <= log.last_index() && first.index > log.snapshot_last().index {
        log.truncate_from(first.index);
    }
    for entry in entries {
        if entry.index > log.last_index() {
            log.push(entry);
        }
    }
}

/// Which issued writes are durable. Writes become durable in issue order (the
/// storage is an ordered list; a crash loses a suffix of unconfirmed writes).
#[derive(Clone, Debug, Default)]
pub struct Durability {
    next_token: u64,
    /// Token of each unconfirmed write → the log's last index right after
    /// it, lowered when a later write truncates below it.
    pending: BTreeMap<u64, u64>,
    /// Every log entry up to here is durable.
    durable_index: u64,
}

impl Durability {
    pub fn new(durable_index: u64) -> Self {
        Self {
            next_token: 1,
            pending: BTreeMap::new(),
            durable_index,
        }
    }

    pub fn durable_index(&self) -> u64 {
        self.durable_index
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Registers a write issued when the log ends at `log_last`.
    pub fn issue(&mut self, log_last: u64) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.insert(token, log_last);
        token
    }

    /// The log was cut so that entries from `index` on are no longer the ones
    /// earlier writes stored.
    pub fn truncated_from(&mut self, index: u64) {
        let keep = index.saturating_sub(1);
        self.durable_index = self.durable_index.min(keep);
        for last in self.pending.values_mut() {
            *last = (*last).min(keep);
        }
    }

    /// Confirms `token` (and, by ordering, every earlier write). Returns true
    /// if the durable index advanced.
    pub fn confirm(&mut self, token: u64) -> bool {
        let Some(&last) = self.pending.get(&token) else {
            return false;
        };
        self.pending = self.pending.split_off(&(token + 1));
        let advanced = last > self.durable_index;
        self.durable_index = self.durable_index.max(last);
        advanced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::LogId;

    fn noop(term: u64, index: u64) -> Entry {
        Entry {
            term,
            index,
            payload: Payload::Noop,
        }
    }

    #[test]
    fn replay_truncates_on_overwrite_and_stops_at_a_torn_record() {
        let mut torn = Record::Entries {
            entries: vec![noop(3, 3)],
        }
        .encode();
        torn.truncate(torn.len() - 1);
        let records = vec![
            Record::HardState {
                term: 2,
                voted_for: Some(NodeId(1)),
            }
            .encode(),
            Record::Entries {
                entries: vec![noop(1, 1), noop(1, 2), noop(2, 3)],
            }
            .encode(),
            Record::Entries {
                entries: vec![noop(2, 2)],
            }
            .encode(),
            torn,
        ];
        let r = replay(&records, Membership::with_voters([NodeId(1)]));
        assert_eq!(r.term, 2);
        assert_eq!(r.voted_for, Some(NodeId(1)));
        assert_eq!(r.log.last_id(), LogId::new(2, 2));
        assert_eq!(r.records_skipped, 1);
    }

    #[test]
    fn durability_follows_truncation() {
        let mut d = Durability::new(0);
        let a = d.issue(10);
        d.truncated_from(6);
        let b = d.issue(7);
        assert!(d.confirm(a));
        assert_eq!(d.durable_index(), 5);
        assert!(d.confirm(b));
        assert_eq!(d.durable_index(), 7);
        assert!(!d.confirm(b));
    }
}
