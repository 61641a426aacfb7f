//! The node's durable record log (write-ahead log).
//!
//! File format: a sequence of records, each `[len: u32 BE][crc32: u32 BE][bytes]`.
//! Appends are fsynced before `Persisted` is reported. `Replace` writes a new
//! file beside the log, fsyncs it, renames it over the log and fsyncs the
//! directory, so a crash leaves either the old log or the new one.
//!
//! On open, a torn or corrupt tail (a crash mid-append) is detected by its
//! length or checksum and cut off: the records before it are kept.
//!
//! ## One file, not segments (a decision, with its reasons)
//!
//! etcd and most Raft logs use segment files plus a separate snapshot and
//! delete old segments after a snapshot. This log is one file compacted by
//! an atomic `Replace`, on purpose:
//! * *Bounded anyway.* A protocol compacts through `Replace` (raft: every
//!   `snapshot_log_entries` applied entries, default 8192), so the file holds
//!   one snapshot plus the entries after it — what segments would hold too.
//! * *Same bytes written.* Our snapshot is the whole state machine, written
//!   in full at every compaction in either design; segments would save only
//!   re-copying the few entries after the snapshot index (raft snapshots at
//!   the applied index, so that tail is short).
//! * *One crash story.* Either the old file or the new one exists
//!   (write, fsync, rename, directory fsync); there is no manifest or
//!   checkpoint that could disagree with the segments after a crash, and a
//!   leftover `records.log.next` is never read. Recovery reads what segments
//!   would (snapshot + later records).
//! * *What segments would buy*, and why not now: preallocated segment files
//!   let `fdatasync` skip the file-size metadata update that an append to a
//!   growing file needs, and a snapshot kept in its own file could be
//!   streamed instead of held in memory. The first is a latency gain to
//!   measure against `skein_wal_fsync_duration_seconds` before paying for it;
//!   the second matters for states of hundreds of MB, beyond the 1 GiB
//!   snapshot cap's comfort but not this release's target. Both fit behind
//!   this type's interface (`open`, `write_batch`) without a protocol change.

use skein_core::protocol::apply_write;
use skein_core::StorageWrite;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest record accepted; a longer length field is treated as a torn tail.
pub const RECORD_BYTES_MAX: usize = 64 << 20;
const LOG_FILE: &str = "records.log";
/// A replacing log being written; renamed over [`LOG_FILE`] once durable.
/// One left by a crash is incomplete and never read (the next `Replace`
/// overwrites it).
const NEXT_FILE: &str = "records.log.next";

pub struct RecordLog {
    dir: PathBuf,
    file: File,
    /// Bytes cut off a torn tail when the log was opened.
    pub truncated_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("record of {len} bytes exceeds the limit of {RECORD_BYTES_MAX} bytes")]
    TooLarge { len: usize },
    #[error(
        "record log {path} is corrupt at byte {offset} (record {index}) with intact data after it; \
         refusing to start rather than drop acknowledged records: restore the data directory \
         from a healthy replica, or move the file away to start empty"
    )]
    Corrupt {
        path: PathBuf,
        offset: usize,
        index: usize,
    },
}

/// What one durable write cost, for the runtime's metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WriteReport {
    /// Bytes written.
    pub bytes: usize,
    /// Each fsync of log data (`skein_wal_fsync_duration_seconds`): one for
    /// the appends of a batch, one per replacing file.
    pub fsyncs: Vec<Duration>,
    /// Each `Replace` whole — write, fsync, rename, directory fsync — which
    /// is how a snapshot becomes durable (`skein_<service>_snapshot_duration_seconds`).
    pub replaces: Vec<Duration>,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RecordLog {
    /// Opens (or creates) the log in `dir` and returns it with the records it holds.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Vec<u8>>), StorageError> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let path = dir.join(LOG_FILE);
        let mut bytes = Vec::new();
        if path.exists() {
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io_at(&path))?;
        }
        let (records, valid_len) = match parse_records(&bytes) {
            Ok(parsed) => parsed,
            Err(Damage { offset, index }) => {
                return Err(StorageError::Corrupt {
                    path,
                    offset,
                    index,
                })
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let truncated_bytes = (bytes.len() - valid_len) as u64;
        if truncated_bytes > 0 {
            file.set_len(valid_len as u64).map_err(io_at(&path))?;
            file.sync_all().map_err(io_at(&path))?;
        }
        Ok((
            Self {
                dir: dir.to_path_buf(),
                file,
                truncated_bytes,
            },
            records,
        ))
    }

    /// Makes `write` durable.
    pub fn write(&mut self, write: &StorageWrite) -> Result<WriteReport, StorageError> {
        self.write_batch(std::slice::from_ref(write))
    }

    /// Makes every write durable with one fsync (group commit): appends are
    /// buffered and synced together; a `Replace` supersedes the appends
    /// before it, so those are never written.
    pub fn write_batch(&mut self, writes: &[StorageWrite]) -> Result<WriteReport, StorageError> {
        let path = self.dir.join(LOG_FILE);
        let mut pending = Vec::new();
        let mut report = WriteReport::default();
        for write in writes {
            match write {
                StorageWrite::Append(bytes) => pending.extend_from_slice(&frame(bytes)?),
                StorageWrite::Replace(bytes) => {
                    pending.clear();
                    let started = Instant::now();
                    self.replace(&frame(bytes)?, &mut report)?;
                    report.replaces.push(started.elapsed());
                }
            }
        }
        if !pending.is_empty() {
            self.file.write_all(&pending).map_err(io_at(&path))?;
            let started = Instant::now();
            self.file.sync_data().map_err(io_at(&path))?;
            report.fsyncs.push(started.elapsed());
            report.bytes += pending.len();
        }
        Ok(report)
    }

    fn replace(&mut self, framed: &[u8], report: &mut WriteReport) -> Result<(), StorageError> {
        let path = self.dir.join(LOG_FILE);
        let next = self.dir.join(NEXT_FILE);
        let mut file = File::create(&next).map_err(io_at(&next))?;
        file.write_all(framed).map_err(io_at(&next))?;
        let started = Instant::now();
        file.sync_all().map_err(io_at(&next))?;
        report.fsyncs.push(started.elapsed());
        report.bytes += framed.len();
        std::fs::rename(&next, &path).map_err(io_at(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_at(&self.dir))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(())
    }
}

fn frame(bytes: &[u8]) -> Result<Vec<u8>, StorageError> {
    if bytes.len() > RECORD_BYTES_MAX {
        return Err(StorageError::TooLarge { len: bytes.len() });
    }
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(bytes).to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Where a log is damaged in a way a crash cannot explain.
#[derive(Debug, PartialEq, Eq)]
struct Damage {
    offset: usize,
    index: usize,
}

/// Reads every record; returns them and the length of the valid prefix.
///
/// A crash mid-append can only damage the end: a partial header, a record
/// running past the end of the file, a bad checksum on the very last record,
/// or a zero-filled tail (blocks allocated but never written). Those are cut
/// off. Damage followed by further data is corruption, not a crash, and
/// dropping what follows would lose acknowledged records: that is an error.
fn parse_records(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, usize), Damage> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < 8 || rest.iter().all(|&b| b == 0) {
            break; // torn header or zero-filled tail
        }
        let len = u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_be_bytes(rest[4..8].try_into().expect("4 bytes"));
        let damage = Damage {
            offset: at,
            index: records.len(),
        };
        if len > RECORD_BYTES_MAX {
            return Err(damage);
        }
        if rest.len() - 8 < len {
            break; // the last record runs past the end: torn
        }
        let body = &rest[8..8 + len];
        if crc32fast::hash(body) != crc {
            if rest.len() == 8 + len {
                break; // the last record is torn
            }
            return Err(damage);
        }
        apply_write(&mut records, &StorageWrite::Append(body.to_vec()));
        at += 8 + len;
    }
    Ok((records, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_replace_resets() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, records) = RecordLog::open(dir.path()).unwrap();
        assert!(records.is_empty());
        log.write(&StorageWrite::Append(b"a".to_vec())).unwrap();
        log.write(&StorageWrite::Append(b"b".to_vec())).unwrap();
        drop(log);
        let (mut log, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"a".to_vec(), b"b".to_vec()]);
        log.write(&StorageWrite::Replace(b"snap".to_vec())).unwrap();
        log.write(&StorageWrite::Append(b"c".to_vec())).unwrap();
        drop(log);
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"snap".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_write_reports_its_fsyncs_and_replaces_and_a_crashed_replace_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        let report = log
            .write_batch(&[
                StorageWrite::Append(b"a".to_vec()),
                StorageWrite::Append(b"b".to_vec()),
            ])
            .unwrap();
        assert_eq!((report.bytes, report.fsyncs.len()), (18, 1), "group commit");
        assert!(report.replaces.is_empty());
        let report = log
            .write_batch(&[
                StorageWrite::Replace(b"snap".to_vec()),
                StorageWrite::Append(b"c".to_vec()),
            ])
            .unwrap();
        assert_eq!((report.fsyncs.len(), report.replaces.len()), (2, 1));
        assert!(report.replaces[0] >= report.fsyncs[0]);
        drop(log);
        // A crash mid-Replace leaves a partial replacing file: never read.
        std::fs::write(dir.path().join(NEXT_FILE), b"\x00\x00\x00\x09partial").unwrap();
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"snap".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_batch_is_one_durable_step_and_replace_supersedes_earlier_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        let batch = [
            StorageWrite::Append(b"gone".to_vec()),
            StorageWrite::Replace(b"snap".to_vec()),
            StorageWrite::Append(b"x".to_vec()),
            StorageWrite::Append(b"y".to_vec()),
        ];
        log.write_batch(&batch).unwrap();
        drop(log);
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(
            records,
            vec![b"snap".to_vec(), b"x".to_vec(), b"y".to_vec()]
        );
    }

    #[test]
    fn a_torn_tail_is_cut_and_earlier_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        log.write(&StorageWrite::Append(b"kept".to_vec())).unwrap();
        log.write(&StorageWrite::Append(b"torn record".to_vec()))
            .unwrap();
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (mut log, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"kept".to_vec()]);
        assert_eq!(log.truncated_bytes, 8 + 11 - 3);
        log.write(&StorageWrite::Append(b"next".to_vec())).unwrap();
        drop(log);
        assert_eq!(
            RecordLog::open(dir.path()).unwrap().1,
            vec![b"kept".to_vec(), b"next".to_vec()]
        );
    }

    #[test]
    fn a_corrupt_record_in_the_middle_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        for r in [b"one", b"two", b"six"] {
            log.write(&StorageWrite::Append(r.to_vec())).unwrap();
        }
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[11 + 9] ^= 0xff; // inside the second record's body
        std::fs::write(&path, &bytes).unwrap();
        match RecordLog::open(dir.path()) {
            Err(StorageError::Corrupt { offset, index, .. }) => {
                assert_eq!((offset, index), (11, 1))
            }
            other => panic!(
                "a corrupt middle must refuse to open, got {:?}",
                other.map(|(_, r)| r)
            ),
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "nothing may be cut from a corrupt log"
        );
    }

    #[test]
    fn a_zero_filled_tail_is_cut_like_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        log.write(&StorageWrite::Append(b"kept".to_vec())).unwrap();
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend([0u8; 4096]);
        std::fs::write(&path, bytes).unwrap();
        let (log, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"kept".to_vec()]);
        assert_eq!(log.truncated_bytes, 4096);
    }

    #[test]
    fn a_corrupt_last_record_is_cut_as_torn() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        for r in [b"one", b"two"] {
            log.write(&StorageWrite::Append(r.to_vec())).unwrap();
        }
        drop(log);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            RecordLog::open(dir.path()).unwrap().1,
            vec![b"one".to_vec()]
        );
    }
}
