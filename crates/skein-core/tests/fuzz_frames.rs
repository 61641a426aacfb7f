//! CI stand-in for the libFuzzer target `fuzz/fuzz_targets/frames.rs` (see
//! fuzz/README.md): the committed seeds `fuzz/seeds/frames` (real frames of
//! every kind, plain and tagged) replayed through the same harness,
//! `skein_core::fuzzing::run_frames`, then random and mutated inputs. About
//! a second in debug.
//!
//! Regenerate the seeds: `cargo test -p skein-core --test fuzz_frames -- --ignored write_seeds`

use proptest::prelude::*;
use skein_core::codec;
use skein_core::envelope::decode_prefix;
use skein_core::fuzzing::run_frames;
use skein_core::heartbeat::HeartbeatMessage;
use skein_core::mac::{ClusterSecret, PairKey};
use skein_core::sslink::{LinkAck, LinkData};
use skein_core::{Frame, FrameKind, NodeId};
use std::path::PathBuf;

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/frames")
}

fn seeds() -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seed_dir())
        .expect("fuzz/seeds/frames exists")
        .map(|e| e.expect("a readable entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The harness's keyring is node 1's in a cluster whose secret is 32 sevens.
fn key_2_to_1() -> PairKey {
    PairKey::derive(
        &ClusterSecret::new(vec![7; 32]).unwrap(),
        NodeId(2),
        NodeId(1),
    )
}

fn frame(kind: FrameKind, payload: Vec<u8>) -> Frame {
    Frame {
        kind,
        sender: NodeId(2),
        receiver: NodeId(1),
        protocol: 1,
        payload,
    }
}

#[test]
fn the_seed_corpus_replays_without_a_finding() {
    let seeds = seeds();
    assert!(seeds.len() >= 8);
    let mut frames = 0;
    for seed in &seeds {
        run_frames(seed);
        // The seeds are real frames: each decodes in the mode it is seeded for.
        let keys = skein_core::mac::Keyring::from_secret(
            &ClusterSecret::new(vec![7; 32]).unwrap(),
            NodeId(1),
            (1..=8).map(NodeId),
        );
        let keys = (seed[0] & 1 == 1).then_some(&keys);
        if let Ok(Some(_)) = decode_prefix(&seed[1..], 1 << 20, keys) {
            frames += 1;
        }
    }
    assert_eq!(frames, seeds.len(), "every seed starts with a good frame");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_break_the_decoder(data in prop::collection::vec(any::<u8>(), 0..600)) {
        run_frames(&data);
    }

    #[test]
    fn mutated_seeds_never_break_the_decoder(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        sealed in any::<bool>(),
    ) {
        let seeds = seeds();
        let mut data = which.get(&seeds).clone();
        for (at, byte) in flips {
            let i = at.index(data.len());
            data[i] ^= byte;
        }
        if sealed {
            data[0] |= 2;
        }
        run_frames(&data);
    }
}

#[test]
#[ignore = "writes fuzz/seeds/frames; run by hand when the envelope changes"]
fn write_seeds() {
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let beat = codec::encode(
        &HeartbeatMessage::Beat {
            incarnation: 3,
            seq: 9,
        },
        64,
    )
    .unwrap();
    let data = codec::encode(
        &LinkData {
            session: 7,
            counter: 1,
            payload: beat.clone(),
        },
        256,
    )
    .unwrap();
    let ack = codec::encode(
        &LinkAck {
            session: 7,
            counter: 1,
            last: 1,
        },
        64,
    )
    .unwrap();
    let frames = [
        ("message", frame(FrameKind::Message, beat)),
        ("link-data", frame(FrameKind::LinkData, data)),
        ("link-ack", frame(FrameKind::LinkAck, ack)),
        ("hello", frame(FrameKind::Hello, Vec::new())),
    ];
    for (name, f) in &frames {
        for mode in [0u8, 2] {
            let mut plain = vec![mode];
            plain.extend(f.encode());
            plain.extend(f.encode()); // two frames: the stream reader goes on
            std::fs::write(dir.join(format!("{name}-plain-{mode}")), plain).unwrap();
            let mut tagged = vec![mode | 1];
            tagged.extend(f.encode_tagged(&key_2_to_1()));
            std::fs::write(dir.join(format!("{name}-tagged-{mode}")), tagged).unwrap();
        }
    }
}
