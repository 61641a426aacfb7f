//! CI stand-ins for the libFuzzer targets `fuzz/fuzz_targets/wal.rs` and
//! `config.rs` (see fuzz/README.md): their committed seeds replayed through
//! the same harnesses (`skein_node::fuzzing`), then random and mutated
//! inputs. A few seconds in debug.
//!
//! Regenerate the seeds: `cargo test -p skein-node --test fuzz_equivalents -- --ignored write_seeds`

use proptest::prelude::*;
use skein_node::fuzzing::{run_config, run_wal};
use std::path::PathBuf;

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../fuzz/seeds/{target}"))
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(seed_dir(target))
        .expect("the seed directory exists")
        .map(|e| e.expect("a readable entry").path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn wal(data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    run_wal(dir.path(), data);
}

fn mutate(seed: &[u8], flips: Vec<(prop::sample::Index, u8)>) -> Vec<u8> {
    let mut data = seed.to_vec();
    for (at, byte) in flips {
        if !data.is_empty() {
            let i = at.index(data.len());
            data[i] ^= byte;
        }
    }
    data
}

#[test]
fn the_wal_seeds_replay_and_hold_records() {
    let seeds = seeds("wal");
    assert!(seeds.len() >= 4);
    for seed in &seeds {
        wal(seed);
    }
    // A seed of well-framed records opens with its records.
    let dir = tempfile::tempdir().unwrap();
    run_wal(dir.path(), &seeds[0]);
    let (_, records) = skein_node::storage::RecordLog::open(dir.path()).unwrap();
    assert_eq!(
        records.len(),
        3 + 1,
        "three seeded records and the harness's own"
    );
}

#[test]
fn the_config_seeds_replay() {
    let seeds = seeds("config");
    assert!(seeds.len() >= 5);
    for seed in &seeds {
        run_config(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_wal_seeds_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let seeds = seeds("wal");
        let seed: &Vec<u8> = which.get(&seeds);
        wal(&mutate(seed, flips));
    }

    #[test]
    fn random_wal_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..400)) {
        wal(&data);
    }

    #[test]
    fn mutated_config_seeds_never_panic(
        which in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let seeds = seeds("config");
        let seed: &Vec<u8> = which.get(&seeds);
        run_config(&mutate(seed, flips));
    }

    #[test]
    fn random_config_text_never_panics(text in "[a-z_=\\[\\]\"0-9 .@:\n-]{0,200}") {
        run_config(text.as_bytes());
    }
}

#[test]
#[ignore = "writes fuzz/seeds/wal and fuzz/seeds/config; run by hand when formats change"]
fn write_seeds() {
    let dir = seed_dir("wal");
    std::fs::create_dir_all(&dir).unwrap();
    let records: &[u8] = b"\x00\x00\x00\x03abc\x05hello\x01z";
    let damaged: &[u8] = b"\x01\x05\x00\x03abc\x05hello\x01z";
    let segment = |bytes: &[u8]| {
        let mut out = (bytes.len() as u16).to_le_bytes().to_vec();
        out.extend(bytes);
        out
    };
    // framed, one segment, no damage (no trailing offset bytes)
    let mut a = vec![0b0000_0100];
    a.extend(segment(records));
    // framed, two segments, the last damaged
    let mut b = vec![0b0000_0101];
    b.extend(segment(records));
    b.extend(segment(damaged));
    // raw bytes, generation 2, a leftover
    let mut c = vec![0b0101_0000];
    c.extend(segment(b"\x00\x00\x00\x03garbage"));
    c.extend(b"left");
    // framed, three segments with a gap
    let mut d = vec![0b0010_0110];
    for _ in 0..3 {
        d.extend(segment(records));
    }
    // a legacy records.log
    let mut e = vec![0b1000_0100];
    e.extend(segment(records));
    for (name, seed) in [
        ("a-framed", a),
        ("b-torn", b),
        ("c-raw", c),
        ("d-gap", d),
        ("e-legacy", e),
    ] {
        std::fs::write(dir.join(name), seed).unwrap();
    }

    let dir = seed_dir("config");
    std::fs::create_dir_all(&dir).unwrap();
    let configs = [
        ("heartbeat", "id = 2\npeers = [\"1\", \"2\", \"3@10.0.0.3\", \"4@10.0.0.4:5004:7004\"]\nbind = \"127.0.0.1\"\npeer_timeout_ms = 1500\n\n[heartbeat]\ntick_interval_ms = 200\n"),
        ("raft", "id = 1\nservice = \"raft\"\npeers = [\"1\", \"2\", \"3\"]\n\n[raft]\nelection_timeout_min_ms = 300\nelection_timeout_max_ms = 600\nheartbeat_interval_ms = 50\n\0snapshot_log_entries=100\n"),
        ("bftlist", "id = 3\nservice = \"bftlist\"\npeers = [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\"]\nbyzantine = \"different-views\"\n\n[bftlist]\nf = 1\ntick_interval_ms = 20\nlist_len_max = 1000\n"),
        ("dht", "id = 2\nservice = \"dht\"\npeers = [\"1\", \"2\", \"3\", \"4\"]\nframe_bytes_max = 65536\n\n[dht]\nreplicas = 3\n\0join=1@127.0.0.1:5001:7001\n"),
        ("gossip", "id = 5\nservice = \"gossip\"\npeers = [\"1\", \"5\"]\nadvertise = \"127.0.0.1\"\ncluster_secret = \"0123456789abcdef0123456789abcdef\"\n\n[gossip]\nmembers_max = 64\n"),
        ("ports", "id = 7\nmetrics_base = 13000\napi_base = 14000\nstream_base = 15000\ndatagram_base = 17000\nsend_queue_max = 16\nrequest_timeout_ms = 100\nallow_fault_injection = true\napi_write_rate = 10\n"),
    ];
    for (name, text) in configs {
        std::fs::write(dir.join(name), text).unwrap();
    }
}
