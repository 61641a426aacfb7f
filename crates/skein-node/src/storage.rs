//! The node's durable record log (write-ahead log), in segment files.
//!
//! Record format: `[len: u32 BE][crc32: u32 BE][bytes]`, appended to the
//! newest segment of the current generation (see [`crate::wal_segments`]);
//! a new segment starts once the current one passes `segment_bytes`
//! (64 MiB by default). A batch of appends is fsynced once before
//! `Persisted` is reported (group commit); a new segment's directory entry
//! is fsynced before any data in it is acknowledged.
//!
//! `Replace` (a snapshot) starts a new generation: its first segment is
//! written beside the log, fsynced, renamed into place and the directory
//! fsynced; only then are the previous generation's segments deleted. A
//! crash leaves either the old generation or the new one current, and
//! whatever else it left is deleted on open.
//!
//! On open, a torn or corrupt tail of the **last** segment (a crash
//! mid-append) is cut off and the records before it kept. Damage anywhere
//! else — a bad record with data after it, a damaged earlier segment (each
//! was fsynced whole before the next began), or a missing segment — cannot
//! come from a crash, and dropping what follows would lose acknowledged
//! records: the node refuses to start and says so.
//!
//! A data directory written before segments (one `records.log`) is taken
//! over as generation 0, segment 0.

use skein_core::protocol::apply_write;
use skein_core::StorageWrite;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::wal_segments::{next_name, segment_name, Layout, SEGMENT_BYTES_DEFAULT};

/// The largest record accepted; a longer length field is treated as a torn tail.
pub const RECORD_BYTES_MAX: usize = 64 << 20;
/// The single log file of data directories written before segments.
const LEGACY_FILE: &str = "records.log";

pub struct RecordLog {
    dir: PathBuf,
    generation: u32,
    sequence: u32,
    file: File,
    /// Bytes in the current segment.
    segment_len: u64,
    segment_bytes: u64,
    /// Bytes cut off a torn tail when the log was opened.
    pub truncated_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("record of {len} bytes exceeds the limit of {RECORD_BYTES_MAX} bytes")]
    TooLarge { len: usize },
    /// Its frame would be eight zero bytes, which the reader takes for a
    /// zero-filled tail: it would vanish at the next start.
    #[error("an empty record cannot be stored (it reads back as a zero-filled tail); persist at least one byte")]
    EmptyRecord,
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
    #[error(
        "record log in {dir} is missing segment {missing} of generation {generation}; \
         refusing to start rather than skip acknowledged records: restore the data directory \
         from a healthy replica"
    )]
    MissingSegment {
        dir: PathBuf,
        generation: u32,
        missing: u32,
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
        Self::open_with(dir, SEGMENT_BYTES_DEFAULT)
    }

    /// As [`RecordLog::open`], starting a new segment past `segment_bytes`.
    pub fn open_with(dir: &Path, segment_bytes: u64) -> Result<(Self, Vec<Vec<u8>>), StorageError> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        adopt_legacy_file(dir)?;
        let layout = Layout::read(dir).map_err(io_at(dir))?;
        if let Some(missing) = layout.gap() {
            return Err(StorageError::MissingSegment {
                dir: dir.to_path_buf(),
                generation: layout.generation,
                missing,
            });
        }
        for leftover in &layout.leftovers {
            std::fs::remove_file(leftover).map_err(io_at(leftover))?;
        }
        let mut records = Vec::new();
        let mut truncated_bytes = 0;
        let last = layout.sequences.last().copied().unwrap_or(0);
        for &sequence in &layout.sequences {
            let path = layout.path(dir, sequence);
            let mut bytes = Vec::new();
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(io_at(&path))?;
            let corrupt = |offset, index| StorageError::Corrupt {
                path: path.clone(),
                offset,
                index,
            };
            let (segment, valid_len) =
                parse_records(&bytes).map_err(|Damage { offset, index }| corrupt(offset, index))?;
            if valid_len < bytes.len() {
                if sequence != last {
                    // An earlier segment was fsynced whole before the next began.
                    return Err(corrupt(valid_len, segment.len()));
                }
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_at(&path))?;
                file.set_len(valid_len as u64).map_err(io_at(&path))?;
                file.sync_all().map_err(io_at(&path))?;
                truncated_bytes = (bytes.len() - valid_len) as u64;
            }
            records.extend(segment);
        }
        let path = layout.path(dir, last);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let segment_len = file.metadata().map_err(io_at(&path))?.len();
        if layout.sequences.is_empty() {
            sync_dir(dir)?;
        }
        Ok((
            Self {
                dir: dir.to_path_buf(),
                generation: layout.generation,
                sequence: last,
                file,
                segment_len,
                segment_bytes: segment_bytes.max(1),
                truncated_bytes,
            },
            records,
        ))
    }

    /// The current generation's segment files, in order.
    pub fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
        let layout = Layout::read(dir).map_err(io_at(dir))?;
        Ok(layout
            .sequences
            .iter()
            .map(|&s| layout.path(dir, s))
            .collect())
    }

    /// Makes `write` durable.
    pub fn write(&mut self, write: &StorageWrite) -> Result<WriteReport, StorageError> {
        self.write_batch(std::slice::from_ref(write))
    }

    /// Makes every write durable with one fsync (group commit): appends are
    /// buffered and synced together; a `Replace` supersedes the appends
    /// before it, so those are never written.
    pub fn write_batch(&mut self, writes: &[StorageWrite]) -> Result<WriteReport, StorageError> {
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
            if self.segment_len >= self.segment_bytes {
                self.roll()?;
            }
            let path = self.dir.join(segment_name(self.generation, self.sequence));
            self.file.write_all(&pending).map_err(io_at(&path))?;
            let started = Instant::now();
            self.file.sync_data().map_err(io_at(&path))?;
            report.fsyncs.push(started.elapsed());
            report.bytes += pending.len();
            self.segment_len += pending.len() as u64;
        }
        Ok(report)
    }

    /// Starts the next segment. The current one is already durable (every
    /// batch is fsynced); the new one's directory entry is made durable
    /// before anything in it is acknowledged.
    fn roll(&mut self) -> Result<(), StorageError> {
        let path = self
            .dir
            .join(segment_name(self.generation, self.sequence + 1));
        self.file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        sync_dir(&self.dir)?;
        self.sequence += 1;
        self.segment_len = 0;
        Ok(())
    }

    fn replace(&mut self, framed: &[u8], report: &mut WriteReport) -> Result<(), StorageError> {
        let generation = self.generation + 1;
        let path = self.dir.join(segment_name(generation, 0));
        let next = self.dir.join(next_name(generation));
        let mut file = File::create(&next).map_err(io_at(&next))?;
        file.write_all(framed).map_err(io_at(&next))?;
        let started = Instant::now();
        file.sync_all().map_err(io_at(&next))?;
        report.fsyncs.push(started.elapsed());
        report.bytes += framed.len();
        std::fs::rename(&next, &path).map_err(io_at(&path))?;
        sync_dir(&self.dir)?;
        // The new generation is current now: the old one is garbage.
        for sequence in 0..=self.sequence {
            let old = self.dir.join(segment_name(self.generation, sequence));
            if let Err(e) = std::fs::remove_file(&old) {
                tracing::warn!(path = %old.display(), error = %e, "old log segment not deleted; it is removed at the next start");
            }
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        self.generation = generation;
        self.sequence = 0;
        self.segment_len = framed.len() as u64;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// A pre-segment data directory: its one file becomes generation 0, segment 0.
fn adopt_legacy_file(dir: &Path) -> Result<(), StorageError> {
    let legacy = dir.join(LEGACY_FILE);
    if !legacy.exists() {
        return Ok(());
    }
    let first = dir.join(segment_name(0, 0));
    if Layout::read(dir).map_err(io_at(dir))?.sequences.is_empty() {
        std::fs::rename(&legacy, &first).map_err(io_at(&first))?;
        sync_dir(dir)?;
    }
    Ok(())
}

fn frame(bytes: &[u8]) -> Result<Vec<u8>, StorageError> {
    if bytes.is_empty() {
        return Err(StorageError::EmptyRecord);
    }
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
        if len == 0 {
            // Records are never empty (`frame`): a zero length with data
            // after it is damage, not a record to keep — keeping it made a
            // log read differently once its tail was cut.
            if rest.len() == 8 {
                break;
            }
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

    fn last_segment(dir: &Path) -> PathBuf {
        RecordLog::segment_paths(dir).unwrap().pop().unwrap()
    }

    fn append_all(log: &mut RecordLog, records: &[&[u8]]) {
        for r in records {
            log.write(&StorageWrite::Append(r.to_vec())).unwrap();
        }
    }

    /// Found by the `wal` fuzz target: an empty record framed as eight zero
    /// bytes, then a torn tail, opened as `[[]]` — and, once the tail was
    /// cut, reopened as `[]`, the zero header now taken for a zero-filled tail.
    #[test]
    fn empty_records_are_refused_and_a_zero_header_before_data_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open(dir.path()).unwrap();
        assert!(matches!(
            log.write(&StorageWrite::Append(Vec::new())),
            Err(StorageError::EmptyRecord)
        ));
        append_all(&mut log, &[b"kept"]);
        drop(log);
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"kept".to_vec()]);

        let mut bytes = vec![0u8; 8];
        bytes.extend([0x01, 0x02]);
        std::fs::write(last_segment(dir.path()), &bytes).unwrap();
        assert!(matches!(
            RecordLog::open(dir.path()),
            Err(StorageError::Corrupt { offset: 0, .. })
        ));
        std::fs::write(last_segment(dir.path()), [0u8; 8]).unwrap();
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert!(
            records.is_empty(),
            "eight zero bytes alone are a zero-filled tail"
        );
    }

    #[test]
    fn appends_roll_into_segments_and_a_replace_deletes_the_old_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open_with(dir.path(), 30).unwrap();
        append_all(
            &mut log,
            &[b"0123456789", b"0123456789", b"abc", b"def", b"ghi"],
        );
        // 18 + 18 bytes fill segment 0 past 30; the three short records go to segment 1.
        let segments = RecordLog::segment_paths(dir.path()).unwrap();
        assert_eq!(segments.len(), 2, "{segments:?}");
        drop(log);
        let (mut log, records) = RecordLog::open_with(dir.path(), 30).unwrap();
        assert_eq!(records.len(), 5);
        assert_eq!(records[4], b"ghi".to_vec());
        log.write(&StorageWrite::Replace(b"snap".to_vec())).unwrap();
        append_all(&mut log, &[b"after"]);
        let segments = RecordLog::segment_paths(dir.path()).unwrap();
        assert_eq!(segments, vec![dir.path().join(segment_name(1, 0))]);
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 1, "the old generation is deleted");
        drop(log);
        assert_eq!(
            RecordLog::open_with(dir.path(), 30).unwrap().1,
            vec![b"snap".to_vec(), b"after".to_vec()]
        );
    }

    #[test]
    fn damage_before_the_last_segment_or_a_missing_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = RecordLog::open_with(dir.path(), 20).unwrap();
        append_all(
            &mut log,
            &[b"0123456789abc", b"0123456789abc", b"0123456789abc"],
        );
        drop(log);
        let segments = RecordLog::segment_paths(dir.path()).unwrap();
        assert_eq!(segments.len(), 3);
        // A torn tail in a segment that is not the last: not a crash.
        let first = &segments[0];
        let len = std::fs::metadata(first).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(first)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        assert!(matches!(
            RecordLog::open_with(dir.path(), 20),
            Err(StorageError::Corrupt { .. })
        ));
        std::fs::remove_file(&segments[1]).unwrap();
        let err = RecordLog::open_with(dir.path(), 20).err().unwrap();
        assert!(
            matches!(err, StorageError::MissingSegment { missing: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("missing segment 1"), "{err}");
    }

    #[test]
    fn a_single_file_log_of_an_older_version_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = frame(b"old one").unwrap();
        bytes.extend(frame(b"old two").unwrap());
        std::fs::write(dir.path().join(LEGACY_FILE), bytes).unwrap();
        let (mut log, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"old one".to_vec(), b"old two".to_vec()]);
        append_all(&mut log, &[b"new"]);
        drop(log);
        assert!(!dir.path().join(LEGACY_FILE).exists());
        assert_eq!(RecordLog::open(dir.path()).unwrap().1.len(), 3);
    }

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
        // A crash mid-Replace leaves a partial replacing file: never read, deleted.
        let partial = dir.path().join(next_name(2));
        std::fs::write(&partial, b"\x00\x00\x00\x09partial").unwrap();
        let (_, records) = RecordLog::open(dir.path()).unwrap();
        assert_eq!(records, vec![b"snap".to_vec(), b"c".to_vec()]);
        assert!(!partial.exists());
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
        let path = last_segment(dir.path());
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
        let path = last_segment(dir.path());
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
        let path = last_segment(dir.path());
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
        let path = last_segment(dir.path());
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
