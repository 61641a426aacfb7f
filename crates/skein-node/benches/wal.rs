//! The write-ahead log's durable write: one batch of appends, framed,
//! written and fsynced once (group commit), as the storage thread does for
//! every batch of `Persist` effects that queued while the last fsync ran.
//!
//! `cargo bench -p skein-node --bench wal` — in a temporary directory on the
//! disk that holds `TMPDIR` (fsync cost is the disk's, not the CPU's: the
//! figure is only comparable on the same machine). Criterion reports time
//! per batch and records/s.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skein_core::StorageWrite;
use skein_node::storage::RecordLog;
use std::hint::black_box;

/// About a raft entry of a 64 B value under a short key.
const RECORD_BYTES: usize = 128;
const BATCHES: [usize; 3] = [1, 16, 256];

fn append_fsync(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal-append-fsync");
    group.sample_size(20);
    for batch in BATCHES {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (mut log, records) = RecordLog::open(dir.path()).expect("a fresh log opens");
        assert!(records.is_empty());
        let writes = vec![StorageWrite::Append(vec![0x5a; RECORD_BYTES]); batch];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{RECORD_BYTES}B-records"), batch),
            &writes,
            |b, writes| {
                b.iter(|| {
                    let report = log.write_batch(writes).expect("the write is durable");
                    assert_eq!(report.fsyncs.len(), 1, "one fsync per batch");
                    black_box(report)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, append_fsync);
criterion_main!(benches);
