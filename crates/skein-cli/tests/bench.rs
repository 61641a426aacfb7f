//! `skein bench` against real processes on loopback: a closed-loop run on a
//! 3-node raft cluster writes a JSON report with the promised numbers, and
//! bad flags exit 2 before anything runs.
//!
//! Port offsets 13000–13490 belong to this file, so it runs in parallel
//! with the other process tests.

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
