//! End to end in headless Chromium:
//! - a 4-node raft cluster, the dashboard `cluster up` prints, the table
//!   showing 4 nodes up, a click on the leader's kill button, the table
//!   showing it down and then another node as leader — screenshot
//!   `$CARGO_TARGET_TMPDIR/dashboard-e2e.png`;
//! - a 4-node dht cluster: the ring panel draws 4 nodes at distinct places
//!   with their keys counts (`dashboard-dht.png`);
//! - a 5-node gossip cluster: the graph panel draws 5 nodes joined by eager
//!   links, and the coverage plot shows a broadcast at all 5, timed by the
//!   beacon (`dashboard-gossip.png`), and the same without a beacon, timed by
//!   the page (`dashboard-gossip-estimate.png`).
//!
//! The browser is driven over the DevTools protocol on a pipe by
//! `support/dashboard_e2e.js` and `support/dashboard_panels.js` (Node 18+,
//! no npm packages; the plumbing is `support/cdp.js`). Skipped, with the
//! reason printed, without `chromium` or `node` (`.ci/run` installs
//! Debian's chromium when it can). Port offsets 17100, 17700, 17750, 17800
//! (dashboards on 8000 + offset).

mod support;

use serde_json::{json, Value};
use skein_cli::http::{block_on, client};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Cluster;

/// The scripts bound each wait themselves; this only stops a hung browser.
const SCRIPT_WITHIN: Duration = Duration::from_secs(120);

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The browser to drive, or None (with the reason printed) to skip.
fn chromium() -> Option<&'static str> {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|p| found(p))
    else {
        println!("skipped: no chromium on PATH (`.ci/run` installs Debian's `chromium`)");
        return None;
    };
    if !found("node") {
        println!("skipped: no `node` on PATH to drive chromium");
        return None;
    }
    Some(chromium)
}

fn screenshot(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `node support/SCRIPT ARGS…`; panics with its output unless it
/// succeeds and left a screenshot. Returns what it printed.
fn run_script(script: &str, args: &[&str], shot: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script);
    let mut child = Command::new("node")
        .arg(&script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > SCRIPT_WITHIN {
            let _ = child.kill();
            panic!("the browser check hung for {SCRIPT_WITHIN:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the browser check failed:\n{report}");
    assert!(
        std::fs::metadata(shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        shot.display()
    );
    report
}

/// What the panel script reported seeing (its `seen: {json}` line).
fn seen(report: &str) -> Value {
    let line = report
        .lines()
        .find_map(|l| l.strip_prefix("seen: "))
        .expect("the script reports what it saw");
    serde_json::from_str(line).expect("JSON")
}

#[test]
fn kill_the_leader_from_the_page_and_see_a_new_one() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        dir.path(),
        "raft",
        4,
        17100,
        &["--allow-fault-injection"],
        &[],
    );
    let shot = screenshot("dashboard-e2e.png");
    let profile = dir.path().join("chromium-profile");
    run_script(
        "dashboard_e2e.js",
        &[
            chromium,
            "http://127.0.0.1:25100/?interval=500",
            "4",
            "leader",
            shot.to_str().unwrap(),
            profile.to_str().unwrap(),
        ],
        &shot,
    );
    drop(cluster);
}

#[test]
fn the_dht_panel_draws_the_ring_with_each_nodes_keys() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "dht", 4, 17700, &[], &[]);
    let http = client(Duration::from_secs(5));
    for k in 0..8 {
        let url = format!("{}/api/v1/dht/keys/page-{k}", cluster.api(1));
        block_on(async {
            http.put(&url)
                .body("v")
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
        });
    }
    let shot = screenshot("dashboard-dht.png");
    let profile = dir.path().join("chromium-profile");
    let report = run_script(
        "dashboard_panels.js",
        &[
            chromium,
            "http://127.0.0.1:25700/?interval=500",
            "4",
            "dht",
            shot.to_str().unwrap(),
            profile.to_str().unwrap(),
        ],
        &shot,
    );
    let seen = seen(&report);
    assert_eq!(seen["dots"], 4, "{seen}");
    assert_eq!(
        seen["places"], 4,
        "every node at its own place on the ring: {seen}"
    );
    let roles: Vec<&str> = seen["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        roles
            .iter()
            .all(|r| r.starts_with("ring ") && !r.contains(',')),
        "the table shows ring positions as hex: {roles:?}"
    );
    drop(cluster);
}

#[test]
fn the_gossip_panel_draws_the_overlay_and_a_broadcasts_coverage() {
    gossip_panel_check(17750, "gossip", &[]);
}

/// Without a beacon the page times each delivery itself (uptime and delivered_ms).
#[test]
fn without_a_beacon_the_page_times_the_coverage_itself() {
    gossip_panel_check(17800, "gossip-estimate", &["--set", "beacon=false"]);
}

fn gossip_panel_check(offset: u16, mode: &str, node_flags: &[&str]) {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "gossip", 5, offset, &[], node_flags);
    let http = client(Duration::from_secs(5));
    // Plumtree reaches the nodes in the overlay when it is sent: wait until all have joined.
    let started = Instant::now();
    while !(1..=5).all(|id| {
        let status: Option<Value> = block_on(async {
            http.get(format!("{}/api/v1/status", cluster.api(id)))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()
        });
        status.is_some_and(|s| {
            s["protocol"]["joined"] == true
                && s["protocol"]["eager_peers"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
        })
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the overlay did not form"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = Instant::now();
    let id = loop {
        let reply = block_on(async {
            http.post(format!("{}/api/v1/gossip/broadcast", cluster.api(3)))
                .json(&json!({"payload": "seen from the page"}))
                .send()
                .await
                .ok()?
                .json::<Value>()
                .await
                .ok()
        });
        if let Some(id) = reply.as_ref().and_then(|r| r["id"].as_str()) {
            break id.to_string();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(30),
            "node 3 takes no broadcast: {reply:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let shot = screenshot(&format!("dashboard-{mode}.png"));
    let profile = dir.path().join("chromium-profile");
    let url = format!("http://127.0.0.1:{}/?interval=500", 8000 + offset);
    let report = run_script(
        "dashboard_panels.js",
        &[
            chromium,
            &url,
            "5",
            mode,
            shot.to_str().unwrap(),
            profile.to_str().unwrap(),
        ],
        &shot,
    );
    let seen = seen(&report);
    assert_eq!(seen["dots"], 5, "{seen}");
    assert_eq!(seen["coverage"], "5", "{seen}");
    assert!(
        seen["broadcasts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == id.as_str()),
        "the page lists broadcast {id}: {seen}"
    );
    // The drawn links join every node's dot into one graph.
    let places: Vec<&str> = seen["dotPlaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let edges: Vec<(String, String)> = seen["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[0].as_str().unwrap().to_string(),
                e[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut reached = BTreeSet::from([places[0].to_string()]);
    for _ in 0..places.len() {
        for (a, b) in &edges {
            if reached.contains(a) || reached.contains(b) {
                reached.extend([a.clone(), b.clone()]);
            }
        }
    }
    assert_eq!(
        reached.len(),
        5,
        "the drawn overlay is not connected: {seen}"
    );
    drop(cluster);
}
