//! A hostile peer against a real `skein node` process (issue 11): it floods
//! the node's TCP and UDP ports with garbage, oversized frames, frames with
//! bad MACs and connections that never say hello. The node must refuse and
//! count them (`skein_peer_rejected_total{reason}` for who sent,
//! `skein_frames_rejected_total{reason}` for bad bytes), keep serving its API,
//! and keep its peak resident memory (`VmHWM` in /proc/PID/status) under
//! [`RSS_BOUND_BYTES`].
//!
//! CI runs 64 MiB of garbage per channel (about 3 s in a debug build). The
//! full 1 GiB run (about 35 s in a debug build):
//! `cargo test -p skein-cli --test hostile_peer -- --ignored --nocapture`
//! Ports: 24000–24400 (this test only).

mod support;

use skein_core::heartbeat::Heartbeat;
use skein_core::mac::{ClusterSecret, PairKey};
use skein_core::{Frame, FrameKind, NodeId, Protocol};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use support::raft::{wait_for, NodeProcess};

const SECRET: &str = "hostile peer test secret, 32+ bytes long";
const METRICS: u16 = 24001;
const API: u16 = 24101;
const STREAM: u16 = 24201;
const DATAGRAM: u16 = 24301;
/// The documented bound on a node's peak RSS under this attack (SECURITY.md):
/// what it holds at rest plus the bounded buffers of the unauthenticated
/// connections it keeps open at once, with margin.
const RSS_BOUND_BYTES: u64 = 128 << 20;
/// No single phase of the attack may take longer than this.
const PHASE_TIME_MAX: Duration = Duration::from_secs(300);

fn start_node(dir: &Path) -> NodeProcess {
    NodeProcess::start(
        dir,
        1,
        &[
            "--peers",
            "1,2",
            "--metrics-base",
            "24000",
            "--api-base",
            "24100",
            "--stream-base",
            "24200",
            "--datagram-base",
            "24300",
            "--cluster-secret",
            SECRET,
            "--data-dir",
            dir.join("data").to_str().unwrap(),
        ],
    )
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    std::io::Read::read_to_string(&mut stream, &mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

/// Refusals for `reason`: in `skein_peer_rejected_total` when it is about
/// who sent, in `skein_frames_rejected_total` when about the bytes.
fn rejected(reason: &str) -> u64 {
    let metrics = http_get(METRICS, "/metrics").unwrap_or_default();
    let family = match reason {
        "bad_magic" | "oversized" => "skein_frames_rejected_total",
        _ => "skein_peer_rejected_total",
    };
    let name = format!("{family}{{reason=\"{reason}\"}}");
    support::raft::sample(&metrics, &name).unwrap_or(0.0) as u64
}

/// `VmHWM` (peak) and `VmRSS` of a process, in bytes.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a live process");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("the field is there")
            * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Cheap deterministic garbage (xorshift), never starting with the magic.
fn garbage(seed: &mut u64, out: &mut [u8]) {
    for byte in out.iter_mut() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *byte = *seed as u8;
    }
    out[0] = b'X';
}

/// Writes garbage into fresh connections until `budget` bytes went out;
/// the node closes each one at its first bad bytes. Returns connections made.
fn tcp_garbage(budget: u64) -> u64 {
    let started = Instant::now();
    let mut sent = 0u64;
    let mut connections = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut chunk = vec![0u8; 256 * 1024];
    while sent < budget && started.elapsed() < PHASE_TIME_MAX {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", STREAM)) else {
            continue;
        };
        connections += 1;
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        loop {
            garbage(&mut seed, &mut chunk);
            match stream.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n as u64,
            }
            if sent >= budget {
                break;
            }
        }
    }
    assert!(
        sent >= budget,
        "sent {sent} of {budget} bytes within {PHASE_TIME_MAX:?}"
    );
    connections
}

fn udp_garbage(budget: u64) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let mut datagram = vec![0u8; 60 * 1024];
    let mut sent = 0u64;
    while sent < budget && started.elapsed() < PHASE_TIME_MAX {
        garbage(&mut seed, &mut datagram);
        if let Ok(n) = socket.send_to(&datagram, ("127.0.0.1", DATAGRAM)) {
            sent += n as u64;
        }
    }
    assert!(sent >= budget, "sent {sent} of {budget} datagram bytes");
}

fn frame(kind: FrameKind, payload: Vec<u8>) -> Frame {
    Frame {
        kind,
        sender: NodeId(2),
        receiver: NodeId(1),
        protocol: <Heartbeat as Protocol>::PROTOCOL_ID,
        payload,
    }
}

/// A header announcing a payload far over any cap, then garbage.
fn oversized_frames(count: usize) {
    for _ in 0..count {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", STREAM)) else {
            continue;
        };
        let mut bytes = frame(FrameKind::Hello, Vec::new()).encode();
        bytes[5] |= 0x80; // tagged, as the node expects
        bytes[12..16].copy_from_slice(&(1u32 << 30).to_be_bytes());
        let _ = stream.write_all(&bytes);
        let _ = stream.write_all(&vec![0xAB; 64 * 1024]);
    }
}

/// A hello tagged with a key derived from another secret.
fn bad_mac_hellos(count: usize) {
    let wrong = ClusterSecret::new(b"not the cluster secret, but long enough".to_vec()).unwrap();
    let key = PairKey::derive(&wrong, NodeId(2), NodeId(1));
    for _ in 0..count {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", STREAM)) {
            let _ = stream.write_all(&frame(FrameKind::Hello, Vec::new()).encode_tagged(&key));
        }
        if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
            let data = frame(FrameKind::LinkData, vec![0; 16]).encode_tagged(&key);
            let _ = socket.send_to(&data, ("127.0.0.1", DATAGRAM));
        }
    }
}

/// Connections that never say hello: beyond the cap they are closed at once.
fn silent_connections(count: usize) -> Vec<TcpStream> {
    (0..count)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", STREAM)).ok())
        .collect()
}

fn attack(garbage_bytes: u64) {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path());
    wait_for("the node serves its API", Duration::from_secs(60), || {
        http_get(API, "/api/v1/status").is_some()
    });
    let pid = node.pid();
    let (_, rest_rss) = memory(pid);
    println!("at rest: VmRSS {} KiB", rest_rss / 1024);

    let silent = silent_connections(200);
    wait_for(
        "connections over the unauthenticated cap are refused",
        Duration::from_secs(30),
        || rejected("unauthenticated_connections") > 0,
    );
    drop(silent);

    let started = Instant::now();
    let connections = tcp_garbage(garbage_bytes);
    println!(
        "TCP: {} MiB of garbage over {connections} connections in {:.1} s",
        garbage_bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    udp_garbage(garbage_bytes);
    println!(
        "UDP: {} MiB of garbage datagrams in {:.1} s",
        garbage_bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    oversized_frames(50);
    bad_mac_hellos(50);

    wait_for(
        "the node counts every kind",
        Duration::from_secs(30),
        || rejected("bad_magic") > 0 && rejected("oversized") > 0 && rejected("bad_mac") > 0,
    );
    assert!(
        http_get(API, "/api/v1/status").is_some(),
        "the node still serves its API"
    );
    let (peak, now) = memory(pid);
    println!(
        "after: VmHWM {} KiB, VmRSS {} KiB (bound {} KiB); rejected: bad_magic {}, oversized {}, bad_mac {}, unauthenticated_connections {}",
        peak / 1024,
        now / 1024,
        RSS_BOUND_BYTES / 1024,
        rejected("bad_magic"),
        rejected("oversized"),
        rejected("bad_mac"),
        rejected("unauthenticated_connections"),
    );
    assert!(
        peak < RSS_BOUND_BYTES,
        "peak RSS {peak} bytes over the bound {RSS_BOUND_BYTES}"
    );
}

#[test]
fn a_hostile_peer_is_refused_and_memory_stays_bounded() {
    attack(64 << 20);
}

/// The full run: 1 GiB of garbage on each channel.
#[test]
#[ignore = "1 GiB per channel, about 35 s: cargo test -p skein-cli --test hostile_peer -- --ignored --nocapture"]
fn a_gigabyte_of_garbage_is_refused_and_memory_stays_bounded() {
    attack(1 << 30);
}
