//! The in-memory Raft log: entries after the last snapshot.

use crate::message::{Entry, LogId};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftLog {
    /// The last entry covered by the snapshot (index 0 term 0 if none).
    snapshot_last: LogId,
    /// `entries[k].index == snapshot_last.index + 1 + k`.
    entries: Vec<Entry>,
}

impl RaftLog {
    pub fn new(snapshot_last: LogId, entries: Vec<Entry>) -> Self {
        let log = Self {
            snapshot_last,
            entries,
        };
        log.assert_contiguous();
        log
    }

    fn assert_contiguous(&self) {
        for (k, entry) in self.entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                self.snapshot_last.index + 1 + k as u64,
                "log is contiguous"
            );
        }
    }

    pub fn snapshot_last(&self) -> LogId {
        self.snapshot_last
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot_last.index + self.entries.len() as u64
    }

    pub fn last_id(&self) -> LogId {
        self.entries
            .last()
            .map_or(self.snapshot_last, Entry::log_id)
    }

    /// The term at `index`, if known (the snapshot's last index included).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_last.index {
            return Some(self.snapshot_last.term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let offset = index.checked_sub(self.snapshot_last.index + 1)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Entries from `from` on, at most `count_max`, and within `bytes_max`
    /// except that the first entry is always included.
    pub fn slice(&self, from: u64, count_max: usize, bytes_max: usize) -> Vec<Entry> {
        let Some(start) = from.checked_sub(self.snapshot_last.index + 1) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self.entries.iter().skip(start as usize).take(count_max) {
            bytes += entry.size_bytes();
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// The first index of the run of `term` that contains `index`.
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let term = self.term_at(index);
        let mut first = index;
        while first > self.snapshot_last.index + 1 && self.term_at(first - 1) == term {
            first -= 1;
        }
        first
    }

    /// The last index whose term is `term`, if any entry has it.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
            .or((self.snapshot_last.term == term).then_some(self.snapshot_last.index))
    }

    /// Appends `entry`, which must directly follow the last one.
    pub fn push(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "log append is contiguous"
        );
        assert!(
            entry.term >= self.last_id().term,
            "terms never decrease along the log"
        );
        self.entries.push(entry);
    }

    /// Removes every entry from `index` on.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(
            index > self.snapshot_last.index,
            "snapshotted entries are never truncated"
        );
        let keep = (index - self.snapshot_last.index - 1) as usize;
        self.entries.truncate(keep);
    }

    /// Drops entries up to `last`, which the snapshot now covers. Entries
    /// after it are kept if the log holds `last` itself (thesis §5.3).
    pub fn compact_to(&mut self, last: LogId) {
        if self.term_at(last.index) == Some(last.term) && last.index >= self.snapshot_last.index {
            let drop = (last.index - self.snapshot_last.index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.snapshot_last = last;
        self.assert_contiguous();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Payload;

    fn e(term: u64, index: u64) -> Entry {
        Entry {
            term,
            index,
            payload: Payload::Noop,
        }
    }

    #[test]
    fn terms_slices_and_compaction() {
        let mut log = RaftLog::default();
        for (i, t) in [1, 1, 2, 2, 2, 3].iter().enumerate() {
            log.push(e(*t, i as u64 + 1));
        }
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.first_index_of_term_at(5), 3);
        assert_eq!(log.last_index_of_term(2), Some(5));
        assert_eq!(log.slice(5, 10, 1).len(), 1);
        assert_eq!(log.slice(2, 3, 1 << 20).len(), 3);
        log.compact_to(LogId::new(2, 4));
        assert_eq!(log.term_at(4), Some(2));
        assert_eq!(log.term_at(3), None);
        assert_eq!(log.last_index(), 6);
        log.truncate_from(6);
        assert_eq!(log.last_id(), LogId::new(2, 5));
        log.compact_to(LogId::new(9, 20));
        assert_eq!(log.last_index(), 20);
        assert!(log.entries().is_empty());
    }
}
