//! The dht service on real `skein` processes on loopback: `cluster up`
//! returns with a whole ring, 1,000 keys written through any node, two
//! non-adjacent nodes SIGKILLed, and once the ring has closed over them every
//! key still reads back; the CLI's put/get/lookup and put-file/get-file; bad
//! input refused with a JSON 4xx.
//!
//! A node SIGKILLed and restarted from its data directory comes back with
//! its local store and its place in the ring.
//!
//! Port offsets 14000–14990 and 27000–27490 (below Linux's ephemeral range).

mod support;

use serde_json::Value;
use skein_cli::http::{block_on, client};
use std::time::{Duration, Instant};
use support::{skein, text, Cluster};

/// A deadline for convergence, not a performance claim: generous for slow CI.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
const KEYS: usize = 1_000;

fn routing(cluster: &Cluster, id: u16) -> Option<Value> {
    let http = client(Duration::from_millis(1_000));
    block_on(async {
        let url = format!("{}/api/v1/dht/routing", cluster.api(id));
        http.get(url).send().await.ok()?.json::<Value>().await.ok()
    })
}

/// Node ids in ring order.
fn ring_order(cluster: &Cluster, ids: &[u16]) -> Vec<u16> {
    let mut ring: Vec<(String, u16)> = ids
        .iter()
        .map(|&id| {
            let view = routing(cluster, id).expect("a live node answers");
            (view["node"]["ring"].as_str().unwrap().to_string(), id)
        })
        .collect();
    ring.sort();
    ring.into_iter().map(|(_, id)| id).collect()
}

/// Polls until the live nodes' successors and predecessors close the ring.
fn wait_for_ring(cluster: &Cluster, live: &[u16]) {
    let order = ring_order(cluster, live);
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let whole = order.iter().enumerate().all(|(i, &id)| {
            let n = order.len();
            routing(cluster, id).is_some_and(|v| {
                v["successors"][0]["id"].as_u64() == Some(u64::from(order[(i + 1) % n]))
                    && v["predecessor"]["id"].as_u64() == Some(u64::from(order[(i + n - 1) % n]))
            })
        });
        if whole {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the ring {order:?} did not close within {CONVERGE_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls until the nodes hold `copies` keys between them (r copies of each).
fn wait_for_copies(cluster: &Cluster, ids: &[u16], copies: usize) {
    let http = client(Duration::from_millis(1_000));
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let held: usize = ids
            .iter()
            .map(|id| {
                let url = format!("{}/api/v1/status", cluster.api(*id));
                block_on(async { http.get(url).send().await.ok()?.json::<Value>().await.ok() })
                    .and_then(|s| s["protocol"]["keys"].as_u64())
                    .unwrap_or(0) as usize
            })
            .sum();
        if held >= copies {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {held} of {copies} copies within {CONVERGE_WITHIN:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// PUT then GET through the HTTP API, retrying transient errors (a ring settling).
fn http_call(method: reqwest::Method, url: &str, body: Option<Vec<u8>>) -> (u16, Value) {
    let http = client(Duration::from_secs(5));
    block_on(async {
        for _ in 0..50 {
            let mut request = http.request(method.clone(), url);
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            if let Ok(response) = request.send().await {
                let status = response.status().as_u16();
                let value = response.json::<Value>().await.unwrap_or(Value::Null);
                if status != 503 && status != 504 {
                    return (status, value);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} kept failing");
    })
}

/// Persistence: the local store (which is never replicated, so only the
/// node's own disk can bring it back) and the network store survive a
/// SIGKILL and `cluster restart`; the node is a member at once and the
/// ring closes over it again.
#[test]
fn a_killed_node_restarts_from_its_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "dht", 4, 27_000, &[], &[]);
    let all: Vec<u16> = (1..=4).collect();
    wait_for_ring(&cluster, &all);
    for k in 0..100 {
        let url = format!("{}/api/v1/dht/keys/key-{k}", cluster.api(all[k % 4]));
        let (status, body) = http_call(reqwest::Method::PUT, &url, Some(b"v".to_vec()));
        assert_eq!(status, 200, "put key-{k}: {body}");
    }
    let local = format!("{}/api/v1/dht/local/mine", cluster.api(2));
    let (status, body) = http_call(reqwest::Method::PUT, &local, Some(b"kept".to_vec()));
    assert_eq!(status, 200, "local put: {body}");
    wait_for_copies(&cluster, &all, 300);
    cluster.act("kill", 2);
    cluster.act("restart", 2);
    let (status, body) = http_call(reqwest::Method::GET, &local, None);
    assert_eq!(status, 200, "the local store after a restart: {body}");
    assert_eq!(body["value"], "kept");
    let view = routing(&cluster, 2).expect("the restarted node answers");
    assert_eq!(view["state"], "member", "restored routing: {view}");
    wait_for_ring(&cluster, &all);
    for k in 0..100 {
        let url = format!("{}/api/v1/dht/keys/key-{k}", cluster.api(2));
        let (status, body) = http_call(reqwest::Method::GET, &url, None);
        assert_eq!(status, 200, "key-{k} through the restarted node: {body}");
    }
}

#[test]
fn every_key_survives_two_non_adjacent_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "dht", 8, 14_000, &[], &[]);
    let all: Vec<u16> = (1..=8).collect();
    wait_for_ring(&cluster, &all);
    for k in 0..KEYS {
        let via = all[k % all.len()];
        let url = format!("{}/api/v1/dht/keys/key-{k}", cluster.api(via));
        let (status, body) = http_call(
            reqwest::Method::PUT,
            &url,
            Some(format!("value-{k}").into_bytes()),
        );
        assert_eq!(status, 200, "put key-{k}: {body}");
        // A replica slower than the ack timeout is filled by the next replication round.
        assert!(body["replicas"].as_u64() >= Some(2), "key-{k}: {body}");
    }
    wait_for_copies(&cluster, &all, 3 * KEYS);
    let order = ring_order(&cluster, &all);
    let victims = [order[1], order[4]]; // two apart on both sides: not adjacent
    for victim in victims {
        cluster.act("kill", victim);
    }
    let live: Vec<u16> = all
        .iter()
        .copied()
        .filter(|id| !victims.contains(id))
        .collect();
    wait_for_ring(&cluster, &live);
    for k in 0..KEYS {
        let via = live[k % live.len()];
        let url = format!("{}/api/v1/dht/keys/key-{k}", cluster.api(via));
        let (status, body) = http_call(reqwest::Method::GET, &url, None);
        assert_eq!(status, 200, "key-{k} after killing {victims:?}: {body}");
        assert_eq!(body["value"], format!("value-{k}"), "key-{k}");
    }
}

#[test]
fn the_cli_stores_keys_and_files_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "dht", 4, 14_100, &[], &[]);
    let api = cluster.api(2);
    let out = skein(&["dht", "put", "greeting", "hello", "--api", &api]);
    assert!(out.status.success(), "{}", text(&out));
    let out = skein(&["dht", "get", "greeting", "--api", &cluster.api(3)]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello",
        "{}",
        text(&out)
    );
    let out = skein(&["dht", "lookup", "greeting", "--api", &api, "--json"]);
    let found: Value = serde_json::from_slice(&out.stdout).expect("lookup --json is JSON");
    assert!(found["hops"].as_u64().unwrap() <= 4, "{found}");
    let out = skein(&["dht", "put", "mine", "x", "--local", "--api", &api]);
    assert!(out.status.success(), "{}", text(&out));
    let out = skein(&["dht", "get", "mine", "--api", &api]);
    assert!(
        !out.status.success(),
        "a local key is not in the network store: {}",
        text(&out)
    );
    let file = dir.path().join("data.bin");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let out = skein(&["dht", "put-file", file.to_str().unwrap(), "--api", &api]);
    assert!(out.status.success(), "{}", text(&out));
    let manifest = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let back = dir.path().join("back.bin");
    let out = skein(&[
        "dht",
        "get-file",
        &manifest,
        "--out",
        back.to_str().unwrap(),
        "--api",
        &cluster.api(4),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let huge = vec![b'x'; 70 * 1024];
    let (status, body) = http_call(
        reqwest::Method::PUT,
        &format!("{api}/api/v1/dht/keys/big"),
        Some(huge),
    );
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "value_too_large");
    let mut shell = std::process::Command::new(support::SKEIN)
        .args(["shell", "--api", &api])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let script = b"WN shell-key from the shell\nRN shell-key\nSZ\nRI\nX\n";
    shell.stdin.take().unwrap().write_all(script).unwrap();
    let out = shell.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("from the shell") && printed.contains("successor 1"),
        "{printed}"
    );
    let (status, body) = http_call(
        reqwest::Method::GET,
        &format!("{api}/api/v1/dht/keys/absent"),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("key_not_found"))
    );
}
