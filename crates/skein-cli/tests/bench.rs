//! `skein bench` against real processes on loopback: a closed-loop run on a
//! 3-node raft cluster writes a JSON report with the promised numbers; dht
//! and gossip runs on small clusters count every request; `--target redis`
//! against a redis-server of its own (skipped when none is installed); and
//! bad flags exit 2 before anything runs.
//!
//! Port offsets 13000–13490 and port 18390 (redis) belong to this file, so
//! it runs in parallel with the other process tests.

mod support;

use serde_json::Value;
use support::{skein, text, Cluster};

#[test]
fn a_closed_loop_run_reports_every_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let _cluster = Cluster::start(&dir, "raft", 3, 13_000, &[], &[]);
    let json = tmp.path().join("out.json");
    let svg = tmp.path().join("out.svg");
    let out = skein(&[
        "bench",
        "--dir",
        dir.to_str().unwrap(),
        "--requests",
        "200",
        "--clients",
        "4",
        "--duration",
        "30",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "bench: {}", text(&out));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["ok"], 200, "{report:#}");
    assert_eq!(report["errors_total"], 0, "{report:#}");
    assert_eq!(report["service"], "raft");
    assert_eq!(report["op"], "put");
    assert_eq!(report["stopped_by"], "requests");
    let latency = &report["latency_us"];
    let (p50, max) = (
        latency["p50"].as_u64().unwrap(),
        latency["max"].as_u64().unwrap(),
    );
    assert!(0 < p50 && p50 <= max, "{latency}");
    assert!(report["throughput_ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["command"]
        .as_str()
        .unwrap()
        .contains("--requests 200"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("200 ok, 0 errors"), "{stdout}");
    assert!(std::fs::read_to_string(&svg).unwrap().ends_with("</svg>\n"));
}

#[test]
fn bad_flags_exit_2_before_anything_runs() {
    for (flags, says) in [
        (
            &["bench", "--clients", "0"][..],
            "--clients 0: expected 1 to 1024",
        ),
        (
            &["bench", "--service", "bftlist", "--op", "put"][..],
            "expected one of: append, read",
        ),
        (
            &["bench", "--api", "nowhere:1"][..],
            "expected URLs such as",
        ),
        (
            &["bench", "--dir", "/nonexistent/skein"][..],
            "no cluster found",
        ),
    ] {
        let out = skein(flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{flags:?}: {}",
            text(&out)
        );
    }
}

/// Runs `skein bench` with `flags` and a JSON report; returns the report.
fn bench_report(flags: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("out.json");
    let mut args = vec!["bench"];
    args.extend(flags);
    args.extend(["--json", json.to_str().unwrap()]);
    let out = skein(&args);
    assert!(out.status.success(), "bench {flags:?}: {}", text(&out));
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

fn assert_every_request_ok(report: &Value, requests: u64, service: &str, op: &str) {
    assert_eq!(report["ok"], requests, "{report:#}");
    assert_eq!(report["errors_total"], 0, "{report:#}");
    assert_eq!(report["service"], service, "{report:#}");
    assert_eq!(report["op"], op, "{report:#}");
    assert_eq!(report["stopped_by"], "requests", "{report:#}");
    let latency = &report["latency_us"];
    let p50 = latency["p50"].as_u64().unwrap();
    assert!(
        0 < p50 && p50 <= latency["max"].as_u64().unwrap(),
        "{latency}"
    );
}

/// dht puts, then gets of a key space the bench writes first, on a spawned
/// 4-node ring that the bench stops again.
#[test]
fn dht_puts_and_gets_on_a_spawned_ring() {
    let common = [
        "--service",
        "dht",
        "--clients",
        "3",
        "--requests",
        "60",
        "--duration",
        "60",
        "--key-space",
        "50",
        "--spawn",
        "4",
    ];
    let put = bench_report(&[&common[..], &["--port-offset", "13100", "--op", "put"]].concat());
    assert_every_request_ok(&put, 60, "dht", "put");
    // Every get finds its key: the bench wrote the whole key space first.
    let get = bench_report(&[&common[..], &["--port-offset", "13150", "--op", "get"]].concat());
    assert_every_request_ok(&get, 60, "dht", "get");
}

/// gossip broadcasts on a 4-node overlay: each counts once delivered at
/// every node, then (receiver) once delivered at the next node.
#[test]
fn gossip_broadcasts_count_once_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let _cluster = Cluster::start(&dir, "gossip", 4, 13_200, &["--no-dashboard"], &[]);
    for until in ["all", "receiver"] {
        let report = bench_report(&[
            "--dir",
            dir.to_str().unwrap(),
            "--clients",
            "2",
            "--requests",
            "30",
            "--duration",
            "60",
            "--value-bytes",
            "100",
            "--gossip-until",
            until,
        ]);
        assert_every_request_ok(&report, 30, "gossip", "broadcast");
    }
}

/// A redis-server this test started; killed when dropped.
struct RedisServer(std::process::Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--target redis`: the raft workload's puts and gets over RESP against a
/// redis-server of its own (port 18390). Skipped, saying so, when
/// redis-server is not installed (Debian: `apt-get install redis-server`).
#[test]
fn redis_puts_and_gets_over_resp() {
    let tmp = tempfile::tempdir().unwrap();
    let server = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", "18390", "--save", ""])
        .args(["--appendonly", "no", "--dir", tmp.path().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn();
    let _server = match server {
        Ok(child) => RedisServer(child),
        Err(error) => {
            eprintln!("SKIPPED redis_puts_and_gets_over_resp: cannot run redis-server ({error}); install it with `apt-get install redis-server`");
            return;
        }
    };
    let common = [
        "--target",
        "redis",
        "--api",
        "redis://127.0.0.1:18390",
        "--clients",
        "4",
        "--requests",
        "200",
        "--duration",
        "30",
        "--key-space",
        "50",
    ];
    let put = bench_report(&[&common[..], &["--op", "put"]].concat());
    assert_every_request_ok(&put, 200, "redis", "put");
    let get = bench_report(&[&common[..], &["--op", "get"]].concat());
    assert_every_request_ok(&get, 200, "redis", "get");
}
