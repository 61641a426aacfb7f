//! Bodies of the libFuzzer targets for what a node reads from disk and its
//! configuration (`fuzz/fuzz_targets/wal.rs`, `config.rs`), shared with
//! their property tests (`tests/fuzz_equivalents.rs`).

use crate::config::{NodeOverrides, NodeSettings, PortBases};
use crate::storage::{RecordLog, StorageError};
use crate::wal_segments::{next_name, segment_name};
use skein_core::{Boot, Context, Input, Protocol, StorageWrite};
use std::path::Path;
use std::time::Duration;

/// Segment files from arbitrary bytes, then `RecordLog::open`.
///
/// `data[0]`: bits 0–1, segments − 1; bit 2, each segment's bytes are
/// records (`len:u8 body`) framed with a correct checksum, then damaged at
/// one offset, rather than raw bytes; bits 3–4, the generation; bit 5, leave
/// out segment 1 (a gap); bit 6, add a `.next` leftover of a later
/// generation; bit 7, write segment 0 as the pre-segment `records.log`.
/// Segments are `len:u16le bytes` after that.
///
/// Must hold: opening gives the records or a corruption/missing-segment
/// error, never a panic or an I/O error; an open log reopens with the same
/// records and nothing more to cut; a record appended then is read back.
pub fn run_wal(dir: &Path, data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let segments = u32::from(mode & 3) + 1;
    let generation = u32::from(mode >> 3 & 3);
    for sequence in 0..segments {
        let len = match rest {
            [a, b, tail @ ..] => {
                rest = tail;
                usize::from(u16::from_le_bytes([*a, *b])).min(rest.len())
            }
            _ => 0,
        };
        let (raw, tail) = rest.split_at(len);
        rest = tail;
        if sequence == 1 && mode & 0x20 != 0 {
            continue;
        }
        let bytes = if mode & 4 != 0 {
            framed(raw)
        } else {
            raw.to_vec()
        };
        let name = if sequence == 0 && mode & 0x80 != 0 {
            "records.log".to_string()
        } else {
            segment_name(generation, sequence)
        };
        std::fs::write(dir.join(name), bytes).expect("write a segment");
    }
    if mode & 0x40 != 0 {
        std::fs::write(dir.join(next_name(generation + 1)), rest).expect("write a leftover");
    }
    let records = match RecordLog::open(dir) {
        Ok((_, records)) => records,
        Err(e @ (StorageError::Corrupt { .. } | StorageError::MissingSegment { .. })) => {
            assert!(!e.to_string().is_empty());
            return;
        }
        Err(e) => panic!("opening arbitrary segments gave an unexpected error: {e}"),
    };
    let (mut log, again) = RecordLog::open(dir).expect("an opened log reopens");
    assert_eq!(again, records, "reopening reads the same records");
    assert_eq!(log.truncated_bytes, 0, "the torn tail was cut durably");
    log.write(&StorageWrite::Append(b"after".to_vec()))
        .expect("append after open");
    drop(log);
    let (_, after) = RecordLog::open(dir).expect("reopen after append");
    assert_eq!(after.len(), records.len() + 1);
    assert_eq!(after[..records.len()], records[..]);
    assert_eq!(after.last().map(Vec::as_slice), Some(&b"after"[..]));
}

/// `spec:3 (len:u8 body)*`: records framed as the log writes them; when
/// `spec[0]` is odd, the byte at offset `spec[1..3]` (mod the length) is
/// then flipped with `spec[2] | 1`.
fn framed(raw: &[u8]) -> Vec<u8> {
    let (spec, mut rest) = raw.split_at(raw.len().min(3));
    let mut out = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        if tail.len() < usize::from(len) {
            break;
        }
        let (body, tail) = tail.split_at(usize::from(len));
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
        out.extend_from_slice(body);
        rest = tail;
    }
    if let [flag, a, b] = *spec {
        if flag & 1 == 1 && !out.is_empty() {
            let at = usize::from(u16::from_le_bytes([a, b])) % out.len();
            out[at] ^= b | 1;
        }
    }
    out
}

/// A config file's text, then `--set`-style `KEY=VALUE` lines after a NUL
/// byte: parsed and resolved as `skein node` does, the service's settings
/// validated, and a node that passes booted and stepped.
///
/// Must hold: bad text is a `ConfigError` naming the setting, never a
/// panic; settings that validate boot a core that does not panic either.
/// Paths to secret, key and token files are dropped: reading files a
/// fuzzer names proves nothing about the parser.
pub fn run_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, sets) = text.split_once('\0').unwrap_or((&text, ""));
    let Ok((mut overrides, sections)) = NodeOverrides::parse_toml(file) else {
        return;
    };
    overrides.cluster_secret_file = None;
    overrides.keys_file = None;
    overrides.api_token_file = None;
    let layers = overrides.or(NodeOverrides::on_ports(PortBases::default()));
    let mut settings = match NodeSettings::resolve(layers, sections) {
        Ok(settings) => settings,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let pairs = sets.lines().filter_map(|line| line.split_once('='));
    if settings.set_service_values("--set", pairs).is_err() {
        return;
    }
    let Some(service) = crate::service::builtin()
        .into_iter()
        .find(|s| s.name == settings.service)
    else {
        return;
    };
    if service.prepare(&mut settings).is_err() {
        return;
    }
    match service.name {
        "bftlist" => boot_if_valid::<skein_bft::BftNode>(&settings),
        "raft" => boot_if_valid::<skein_raft::Raft>(&settings),
        "dht" => boot_if_valid::<skein_dht::Dht>(&settings),
        "gossip" => boot_if_valid::<skein_gossip::Gossip>(&settings),
        "heartbeat" => boot_if_valid::<skein_core::heartbeat::Heartbeat>(&settings),
        other => panic!("builtin service {other} has no fuzzing arm"),
    }
}

/// As `run_service` checks a config before it starts; then Start and two ticks.
fn boot_if_valid<P: Protocol>(settings: &NodeSettings) {
    let Ok(config) = settings.protocol_config::<P::Config>() else {
        return;
    };
    let members = settings.members();
    if P::validate(&config, &members).is_err() {
        return;
    }
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let address = settings.address();
    let mut core = P::boot(Boot {
        id: settings.id,
        address: &address,
        members: &members,
        config: &config,
        persisted: &[],
        now: Duration::ZERO,
        rng: &mut rng,
    });
    let tick = core.tick_interval();
    let mut now = Duration::ZERO;
    for input in [Input::Start, Input::Tick, Input::Tick] {
        let mut effects = Vec::new();
        let mut ctx = Context::new(settings.id, now, &mut rng, &mut effects);
        core.step(&mut ctx, input);
        now += tick;
    }
    let _ = core.status();
}
