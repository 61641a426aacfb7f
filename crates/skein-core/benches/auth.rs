//! The cost of authenticated frames: encode + MAC and verify + decode against
//! plain encode and decode, for 64 B, 1 KiB and 64 KiB payloads.
//!
//! `cargo bench -p skein-core --bench auth` — one core; criterion reports
//! time per frame and payload throughput. The MAC is HMAC-SHA256 truncated to
//! 16 bytes with a precomputed pair key (`skein_core::mac`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skein_core::envelope::{decode_prefix, Frame};
use skein_core::mac::{ClusterSecret, Keyring};
use skein_core::{FrameKind, NodeId};
use std::hint::black_box;

const SIZES: [usize; 3] = [64, 1024, 64 * 1024];

fn frame(size: usize) -> Frame {
    Frame {
        kind: FrameKind::Message,
        sender: NodeId(2),
        receiver: NodeId(1),
        protocol: 1,
        payload: vec![0xa5; size],
    }
}

fn frames(c: &mut Criterion) {
    let secret = ClusterSecret::new(b"a benchmark's cluster secret".to_vec()).unwrap();
    let members = [1, 2, 3].map(NodeId);
    let sender = Keyring::from_secret(&secret, NodeId(2), members);
    let receiver = Keyring::from_secret(&secret, NodeId(1), members);
    let key = sender.key(NodeId(1)).unwrap();
    let max = 1 << 20;

    let mut encode = c.benchmark_group("encode");
    for size in SIZES {
        let f = frame(size);
        encode.throughput(Throughput::Bytes(size as u64));
        encode.bench_with_input(BenchmarkId::new("plain", size), &f, |b, f| {
            b.iter(|| black_box(f.encode()))
        });
        encode.bench_with_input(BenchmarkId::new("mac", size), &f, |b, f| {
            b.iter(|| black_box(f.encode_tagged(key)))
        });
    }
    encode.finish();

    let mut decode = c.benchmark_group("decode");
    for size in SIZES {
        let plain = frame(size).encode();
        let tagged = frame(size).encode_tagged(key);
        decode.throughput(Throughput::Bytes(size as u64));
        decode.bench_with_input(BenchmarkId::new("plain", size), &plain, |b, bytes| {
            b.iter(|| black_box(decode_prefix(bytes, max, None).unwrap()))
        });
        decode.bench_with_input(BenchmarkId::new("verify", size), &tagged, |b, bytes| {
            b.iter(|| black_box(decode_prefix(bytes, max, Some(&receiver)).unwrap()))
        });
    }
    decode.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
