//! The raft service on real `skein` processes on loopback: reads and writes
//! through the leader, through a follower's redirect and forwarded by a
//! follower (`Skein-Forward: 1`), no acknowledged
//! write lost when the leader is SIGKILLed mid-load and restarted, writes
//! going on while a follower is paused, membership and leadership transfer
//! from the CLI, and bad input refused with a JSON 4xx.
//!
//! Each test has its own port offset (11600–11990, below Linux's ephemeral
//! range), so the suite runs in parallel with the other process tests.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use skein_cli::http::block_on;
use skein_cli::leader_http::LeaderClient;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::raft::{list_all, put, sample, wait_for, StopOnDrop, CONVERGE_WITHIN};
use support::{skein, text, Cluster};

#[test]
fn writes_and_reads_go_to_the_leader_and_a_follower_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::raft(dir.path(), 3, 11_600);
    let leader = cluster.leader(&[1, 2, 3]);
    let follower = if leader == 1 { 2 } else { 1 };

    // A follower answers 307 with the leader's URL, and writes nothing itself.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = block_on(
        raw.put(format!("{}/api/v1/kv/greeting?x=1", cluster.api(follower)))
            .body("hello")
            .send(),
    )
    .unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("{}/api/v1/kv/greeting?x=1", cluster.api(leader))
    );
    let body: Value = block_on(response.json()).unwrap();
    assert_eq!(body["leader"], leader);
    assert_eq!(body["code"], "not_leader");

    // Asked to, the follower forwards instead: the leader's answer comes back.
    let forwarded = |request: reqwest::RequestBuilder| {
        let response = block_on(request.header("skein-forward", "1").send()).unwrap();
        let from = response.headers().get("skein-forwarded-from").cloned();
        let status = response.status();
        (status, from, block_on(response.json::<Value>()).unwrap())
    };
    let url = format!("{}/api/v1/kv/forwarded", cluster.api(follower));
    let (status, from, body) = forwarded(raw.put(&url).json(&json!({ "value": "via" })));
    assert_eq!(
        (status.as_u16(), &body["key"]),
        (200, &json!("forwarded")),
        "{body}"
    );
    assert_eq!(from.unwrap().to_str().unwrap(), follower.to_string());
    let stale = raw.put(&url).header("if-match", "1").body("cas");
    let (status, _, body) = forwarded(stale);
    assert_eq!(
        (status.as_u16(), &body["code"]),
        (412, &json!("revision_mismatch")),
        "{body}"
    );
    let (status, _, body) = forwarded(raw.get(&url));
    assert_eq!(
        (status.as_u16(), &body["value"]),
        (200, &json!("via")),
        "{body}"
    );

    // A client that follows redirects writes through the follower; reads agree.
    let via_follower = cluster.client(&cluster.api(follower));
    let written = put(&via_follower, "greeting", "hello");
    let revision = written["revision"].as_u64().unwrap();
    let read = block_on(via_follower.call(Method::GET, "/api/v1/kv/greeting", None, None)).unwrap();
    assert_eq!(read.status, 200);
    assert_eq!(read.body["value"], "hello");
    assert_eq!(read.body["revision"], revision);
    assert_eq!(
        read.url,
        format!("{}/api/v1/kv/greeting", cluster.api(leader))
    );

    // The CLI: put, get, cas, list, delete, through the follower.
    let api = cluster.api(follower);
    let out = skein(&["kv", "put", "--api", &api, "dir/a", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = skein(&["kv", "get", "--api", &api, "dir/a"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n",
        "{}",
        text(&out)
    );
    let out = skein(&["kv", "cas", "--api", &api, "dir/a", "2", "--expect", "0"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "cas on a present key must fail: {}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was written"));
    let out = skein(&["kv", "get", "--api", &api, "--json", "dir/a"]);
    let current: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rev = current["revision"].to_string();
    let out = skein(&["kv", "cas", "--api", &api, "dir/a", "2", "--expect", &rev]);
    assert!(out.status.success(), "{}", text(&out));
    skein(&["kv", "put", "--api", &api, "dir/b", "3"]);
    let out = skein(&["kv", "list", "--api", &api, "--prefix", "dir/"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].starts_with("dir/a\t") && lines[0].ends_with("\t2"),
        "{listed}"
    );
    let out = skein(&["kv", "delete", "--api", &api, "dir/b"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = skein(&["kv", "get", "--api", &api, "dir/b"]);
    assert_eq!(out.status.code(), Some(1));
    let out = skein(&["raft", "status", "--api", &api]);
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains(&format!("leader {leader}")), "{status}");

    // Bad input: a JSON 4xx, and nothing written.
    let leader_api = cluster.api(leader);
    let big = "x".repeat(64 * 1024 + 1);
    let response = block_on(
        raw.put(format!("{leader_api}/api/v1/kv/big"))
            .json(&json!({ "value": big }))
            .send(),
    )
    .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = block_on(response.json()).unwrap();
    assert_eq!(body["code"], "value_too_large", "{body}");
    let response = block_on(
        raw.put(format!("{leader_api}/api/v1/kv/big"))
            .header("content-type", "application/json")
            .body("{\"value\": ")
            .send(),
    )
    .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = block_on(response.json()).unwrap();
    assert_eq!(body["code"], "bad_json");
    let response = block_on(raw.get(format!("{leader_api}/api/v1/kv/big")).send()).unwrap();
    assert_eq!(response.status(), 404, "a refused write left a key behind");
    let out = skein(&["raft", "add", "--api", &leader_api, "42"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown_node"),
        "{}",
        text(&out)
    );
}

/// What the background writer saw.
#[derive(Default)]
struct WriteLog {
    /// (sequence number, revision) of every write the cluster acknowledged.
    acked: Vec<(usize, u64)>,
    /// Writes whose outcome is unknown (timeout, connection reset, leadership lost).
    unknown: Vec<usize>,
}

/// Writes `w/NNNNN` = `vNNNNN` one after another until `count`, `time` or `stop`.
fn spawn_writer(
    apis: String,
    count: usize,
    time: Duration,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<WriteLog> {
    std::thread::spawn(move || {
        let client = LeaderClient::new(&apis, Duration::from_secs(5)).unwrap();
        let mut log = WriteLog::default();
        let until = Instant::now() + time;
        for i in 0..count {
            if Instant::now() > until || stop.load(Ordering::Relaxed) {
                break;
            }
            let body = json!({ "value": format!("v{i:05}") });
            let path = format!("/api/v1/kv/w/{i:05}");
            match block_on(client.call(Method::PUT, &path, Some(&body), None)) {
                Ok(answer) if answer.status == 200 => {
                    log.acked
                        .push((i, answer.body["revision"].as_u64().unwrap()));
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) | Err(_) => log.unknown.push(i),
            }
        }
        log
    })
}

#[test]
fn no_acknowledged_write_is_lost_when_the_leader_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    // Frequent snapshots, so log compaction and snapshot recovery are part of the run.
    let snapshots = ["--set", "snapshot_log_entries=100"];
    let cluster = Cluster::raft_with(dir.path(), 3, 11_650, &snapshots);
    let leader = cluster.leader(&[1, 2, 3]);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writer = spawn_writer(
        cluster.all_apis(),
        3000,
        Duration::from_secs(60),
        stop.clone(),
        acked.clone(),
    );
    let stop_on_panic = StopOnDrop(stop.clone());
    wait_for("100 writes before the kill", CONVERGE_WITHIN, || {
        acked.load(Ordering::Relaxed) >= 100
    });

    cluster.act("kill", leader);
    let at_kill = acked.load(Ordering::Relaxed);
    let others: Vec<u16> = (1..=3).filter(|&id| id != leader).collect();
    let new_leader = cluster.leader(&others);
    assert_ne!(new_leader, leader);
    wait_for("100 writes after the kill", CONVERGE_WITHIN, || {
        acked.load(Ordering::Relaxed) >= at_kill + 100
    });

    cluster.act("restart", leader);
    let at_restart = acked.load(Ordering::Relaxed);
    wait_for("100 writes after the restart", CONVERGE_WITHIN, || {
        acked.load(Ordering::Relaxed) >= at_restart + 100
    });
    stop.store(true, Ordering::Relaxed);
    let log = writer.join().expect("the writer ran");
    drop(stop_on_panic);

    // Every acknowledged write is there, with its value, at the current leader.
    let final_leader = cluster.leader(&[1, 2, 3]);
    let client = cluster.client(&cluster.api(final_leader));
    let items = list_all(&client, "w/");
    let stored: std::collections::BTreeMap<String, (String, u64)> = items
        .iter()
        .map(|i| {
            let key = i["key"].as_str().unwrap().to_string();
            (
                key,
                (
                    i["value"].as_str().unwrap().to_string(),
                    i["revision"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    for &(i, revision) in &log.acked {
        let key = format!("w/{i:05}");
        assert_eq!(
            stored.get(&key),
            Some(&(format!("v{i:05}"), revision)),
            "acknowledged write {key} (revision {revision}) is missing or changed"
        );
    }
    // Nothing appears that was never attempted; unknown outcomes may or may not be there.
    let attempted = log.acked.len() + log.unknown.len();
    for key in stored.keys() {
        let i: usize = key["w/".len()..].parse().unwrap();
        assert!(i < attempted, "{key} was never written");
    }
    assert!(
        log.acked.len() >= 300,
        "too few writes acknowledged: {}",
        log.acked.len()
    );
    eprintln!(
        "acknowledged {}, unknown outcome {}, stored {}",
        log.acked.len(),
        log.unknown.len(),
        stored.len()
    );

    // The WAL's fsyncs and the snapshots are measured (etcd's names, skein_ prefix).
    let metrics = cluster.metrics(final_leader);
    let fsyncs = sample(&metrics, "skein_wal_fsync_duration_seconds_count");
    assert!(fsyncs.is_some_and(|n| n >= 100.0), "{fsyncs:?}\n{metrics}");
    let snapshots = sample(&metrics, "skein_raft_snapshot_duration_seconds_count");
    assert!(
        snapshots.is_some_and(|n| n >= 1.0),
        "{snapshots:?}\n{metrics}"
    );
    let fsync_seconds = sample(&metrics, "skein_wal_fsync_duration_seconds_sum").unwrap();
    eprintln!(
        "node {final_leader}: {fsyncs:?} fsyncs, mean {:.2} ms; {snapshots:?} snapshots",
        1000.0 * fsync_seconds / fsyncs.unwrap()
    );

    // The restarted node caught up from its WAL and the leader.
    let commit = cluster.raft_status(final_leader).unwrap()["commit_index"]
        .as_u64()
        .unwrap();
    cluster.wait_applied(leader, commit);
    assert_eq!(
        cluster.raft_status(leader).unwrap()["keys"],
        stored.len(),
        "the restarted node's state differs"
    );
}

#[test]
fn a_paused_follower_does_not_stop_writes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::raft(dir.path(), 3, 11_700);
    let leader = cluster.leader(&[1, 2, 3]);
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    cluster.act("pause", follower);
    let client = cluster.client(&cluster.api(leader));
    let started = Instant::now();
    let mut last = 0;
    for i in 0..50 {
        last = put(&client, &format!("p/{i}"), "x")["revision"]
            .as_u64()
            .unwrap();
    }
    assert!(
        started.elapsed() < CONVERGE_WITHIN,
        "50 writes took {:?} with a follower paused",
        started.elapsed()
    );
    assert_eq!(list_all(&client, "p/").len(), 50);
    cluster.act("resume", follower);
    cluster.wait_applied(follower, last);
}

#[test]
fn membership_and_leadership_transfer_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::raft(dir.path(), 3, 11_750);
    let leader = cluster.leader(&[1, 2, 3]);
    let target = (1..=3).find(|&id| id != leader).unwrap();
    let apis = cluster.all_apis();

    let out = skein(&[
        "raft",
        "transfer",
        "--api",
        &apis,
        "--to",
        &target.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the transfer completes", CONVERGE_WITHIN, || {
        cluster.leader(&[1, 2, 3]) == target
    });

    let removed = (1..=3).find(|&id| id != target).unwrap();
    let out = skein(&["raft", "remove", "--api", &apis, &removed.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let voters = cluster.raft_status(target).unwrap()["membership"]["voters"].clone();
    assert!(
        !voters.as_array().unwrap().contains(&json!(removed)),
        "{voters}"
    );
    put(&cluster.client(&apis), "after-remove", "ok");

    let out = skein(&["raft", "add", "--api", &apis, &removed.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the re-added node is promoted", CONVERGE_WITHIN, || {
        cluster.raft_status(target).is_some_and(|s| {
            s["membership"]["voters"]
                .as_array()
                .is_some_and(|v| v.contains(&json!(removed)))
        })
    });
    let commit = put(&cluster.client(&apis), "after-add", "ok")["revision"]
        .as_u64()
        .unwrap();
    cluster.wait_applied(removed, commit);
}
