//! The dashboard on real processes: the page and its assets with their
//! content types, the JSON config, the bounded proxy, the launcher's
//! process actions, cut links, the page every node serves at `/`, and
//! `cluster down` stopping a detached cluster's dashboard; what the dht and
//! gossip panels read, from real clusters of those services; and an
//! attached `cluster up` serving the page, then stopping on SIGINT.
//!
//! Port offsets 17000–17090 and 17500–17690 (dashboards on 8000 + offset).

mod support;

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use skein_cli::http::{block_on, client};
use std::time::{Duration, Instant};
use support::{skein, text, Cluster};

const WITHIN: Duration = Duration::from_secs(20);

async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, Option<String>, String) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = reply.status();
    let content_type = reply
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    (status, content_type, reply.text().await.unwrap())
}

#[test]
fn the_dashboard_serves_the_page_proxies_reads_and_kills_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let offset = 17000;
    let cluster = Cluster::start(
        dir.path(),
        "heartbeat",
        4,
        offset,
        &["--allow-fault-injection"],
        &["--peer-timeout-ms", "800"],
    );
    let dash = "http://127.0.0.1:25000";
    assert!(
        cluster
            .up_output
            .contains("dashboard: http://127.0.0.1:25000/"),
        "cluster up does not print the dashboard URL:\n{}",
        cluster.up_output
    );
    let http = client(Duration::from_secs(10));
    block_on(async {
        let (status, ct, page) = call(&http, Method::GET, &format!("{dash}/"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("text/html; charset=utf-8"));
        assert!(page.contains("<title>skein dashboard</title>"), "{page}");
        for (asset, expected) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("panels.js", "text/javascript; charset=utf-8"),
            ("logic.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
        ] {
            let (status, ct, _) =
                call(&http, Method::GET, &format!("{dash}/assets/{asset}"), None).await;
            assert_eq!(
                (status, ct.as_deref()),
                (StatusCode::OK, Some(expected)),
                "{asset}"
            );
        }
        let (status, _, _) = call(&http, Method::GET, &format!("{dash}/assets/x.js"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (_, ct, config) = call(
            &http,
            Method::GET,
            &format!("{dash}/dashboard/config.json"),
            None,
        )
        .await;
        assert_eq!(ct.as_deref(), Some("application/json"));
        let config: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(config["nodes"].as_array().unwrap().len(), 4, "{config}");
        assert_eq!(config["nodes"][0]["api"], "proxy/1");
        assert_eq!(config["launcher"], true);
        assert_eq!(config["service"], "heartbeat");

        // Reads through the proxy: status, capabilities (fault injection on), metrics.
        let (status, _, body) = call(
            &http,
            Method::GET,
            &format!("{dash}/proxy/3/api/v1/status"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], 3);
        let (_, _, caps) = call(
            &http,
            Method::GET,
            &format!("{dash}/proxy/3/api/v1/capabilities"),
            None,
        )
        .await;
        assert_eq!(
            serde_json::from_str::<Value>(&caps).unwrap()["allow_fault_injection"],
            true
        );
        let (status, ct, metrics) =
            call(&http, Method::GET, &format!("{dash}/proxy/3/metrics"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.unwrap().starts_with("text/plain"));
        assert!(metrics.contains("skein_node_info{id=\"3\""), "{metrics}");

        // Only known paths and methods are forwarded; unknown nodes are refused.
        for (method, path) in [
            (Method::GET, "proxy/3/api/v1/request"),
            (Method::POST, "proxy/3/api/v1/status"),
            (Method::GET, "proxy/3/../../etc/passwd"),
        ] {
            let (status, _, _) = call(&http, method.clone(), &format!("{dash}/{path}"), None).await;
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                "{method} {path}: {status}"
            );
        }
        let (status, _, _) = call(
            &http,
            Method::GET,
            &format!("{dash}/proxy/9/api/v1/status"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Cut node 4's links to node 1 through the proxy; node 4 stops hearing node 1.
        let (status, _, body) = call(
            &http,
            Method::PUT,
            &format!("{dash}/proxy/4/api/v1/fault/partition"),
            Some(json!({"blocked": [1]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let started = Instant::now();
        loop {
            let (_, _, body) = call(
                &http,
                Method::GET,
                &format!("{dash}/proxy/4/api/v1/status"),
                None,
            )
            .await;
            let status: Value = serde_json::from_str(&body).unwrap();
            let peer1 = status["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == 1)
                .cloned();
            if peer1.is_some_and(|p| p["up"] == false) {
                break;
            }
            assert!(
                started.elapsed() < WITHIN,
                "node 4 still hears node 1: {status}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, _, metrics) =
            call(&http, Method::GET, &format!("{dash}/proxy/4/metrics"), None).await;
        assert!(
            metrics.contains("skein_partition_dropped_total{direction=\"in\"}"),
            "{metrics}"
        );
        let (status, _, _) = call(
            &http,
            Method::PUT,
            &format!("{dash}/proxy/4/api/v1/fault/partition"),
            Some(json!({"blocked": []})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        // Actions must be JSON requests (a cross-site form cannot send them).
        let plain = http
            .post(format!("{dash}/dashboard/action/2/kill"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, _, body) = call(
            &http,
            Method::POST,
            &format!("{dash}/dashboard/action/2/kill"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("node 2 killed"), "{body}");
        let (status, _, _) = call(
            &http,
            Method::GET,
            &format!("{dash}/proxy/2/api/v1/status"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let (_, _, state) = call(
            &http,
            Method::GET,
            &format!("{dash}/dashboard/cluster"),
            None,
        )
        .await;
        let state: Value = serde_json::from_str(&state).unwrap();
        assert_eq!(state["nodes"][1]["state"], "killed", "{state}");
        let (status, _, body) = call(
            &http,
            Method::POST,
            &format!("{dash}/dashboard/action/2/restart"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, body) = call(
            &http,
            Method::POST,
            &format!("{dash}/dashboard/action/2/explode"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // Every node serves the page too, listing its peers, readable cross-origin.
        let api = cluster.api(1);
        let (status, ct, page) = call(&http, Method::GET, &format!("{api}/"), None).await;
        assert_eq!(
            (status, ct.as_deref()),
            (StatusCode::OK, Some("text/html; charset=utf-8"))
        );
        assert!(page.contains("assets/app.js"));
        let (_, _, config) = call(
            &http,
            Method::GET,
            &format!("{api}/dashboard/config.json"),
            None,
        )
        .await;
        let config: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(
            config["nodes"][3]["api"], "http://127.0.0.1:21004",
            "{config}"
        );
        assert_eq!(
            config["nodes"][3]["metrics"],
            "http://127.0.0.1:20004/metrics"
        );
        assert_eq!(config["launcher"], false);
        let reply = http
            .get(format!("{api}/api/v1/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.headers()["access-control-allow-origin"], "*");
    });

    // `cluster down` stops the detached dashboard with the nodes.
    let out = skein(&["cluster", "down", "--dir", cluster.dir_arg()]);
    assert!(out.status.success(), "{}", text(&out));
    let started = Instant::now();
    while std::net::TcpStream::connect("127.0.0.1:25000").is_ok() {
        assert!(
            started.elapsed() < WITHIN,
            "the dashboard still answers after cluster down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn process_actions_need_fault_injection_and_unknown_nodes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = Cluster::start(dir.path(), "heartbeat", 2, 17010, &[], &[]);
    let dash = "http://127.0.0.1:25010";
    let http = client(Duration::from_secs(10));
    block_on(async {
        let (status, _, body) = call(
            &http,
            Method::POST,
            &format!("{dash}/dashboard/action/1/kill"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("--allow-fault-injection"), "{body}");
        let (status, _, _) = call(
            &http,
            Method::POST,
            &format!("{dash}/dashboard/action/7/kill"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, _, caps) = call(
            &http,
            Method::GET,
            &format!("{dash}/proxy/1/api/v1/capabilities"),
            None,
        )
        .await;
        assert_eq!(
            serde_json::from_str::<Value>(&caps).unwrap()["allow_fault_injection"],
            false
        );
        let (status, _, _) = call(
            &http,
            Method::PUT,
            &format!("{dash}/proxy/1/api/v1/fault/partition"),
            Some(json!({"blocked": [2]})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    });
}

#[test]
fn skein_dashboard_refuses_bad_node_urls() {
    let out = skein(&[
        "dashboard",
        "--nodes",
        "ftp://x,http://127.0.0.1:4001",
        "--port",
        "25020",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not an http URL"), "{}", text(&out));
}

fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    block_on(async { http.get(url).send().await.ok()?.json::<Value>().await.ok() })
}

/// Polls `check` every 200 ms until it gives a value; panics after `within`.
fn wait_for<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            println!("{what}: after {:?}", started.elapsed());
            return value;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A ring id as the node's status serializes it (big-endian bytes), as hex.
fn ring_bytes_hex(ring: &Value) -> Option<String> {
    let bytes = ring.as_array()?;
    (bytes.len() == 20).then_some(())?;
    bytes
        .iter()
        .map(|b| b.as_u64().filter(|b| *b <= 255).map(|b| format!("{b:02x}")))
        .collect()
}

/// The dht panel draws each node at its ring position with its keys count,
/// from `status.protocol.node.ring` and `.keys` (through the dashboard's
/// proxy); checks those have the shape logic.js reads and agree with
/// `/api/v1/dht/routing`, and that keys written show up in the counts.
#[test]
fn a_dht_cluster_gives_the_ring_panel_what_it_draws() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "dht", 4, 17500, &[], &[]);
    let dash = "http://127.0.0.1:25500";
    let http = client(Duration::from_secs(5));
    const KEYS: usize = 12;
    for k in 0..KEYS {
        let url = format!(
            "{}/api/v1/dht/keys/dash-{k}",
            cluster.api(1 + (k % 4) as u16)
        );
        let status = block_on(async {
            http.put(&url)
                .body(format!("v{k}"))
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, StatusCode::OK, "put dash-{k}");
    }
    let statuses: Vec<Value> = wait_for(WITHIN, "every written key counted on the ring", || {
        let statuses: Vec<Value> = (1..=4)
            .map(|id| get_json(&http, &format!("{dash}/proxy/{id}/api/v1/status")))
            .collect::<Option<_>>()?;
        let keys: u64 = statuses
            .iter()
            .map(|s| s["protocol"]["keys"].as_u64().unwrap_or(0))
            .sum();
        (keys >= KEYS as u64).then_some(statuses)
    });
    let mut places = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let id = i as u16 + 1;
        let p = &status["protocol"];
        let hex = ring_bytes_hex(&p["node"]["ring"])
            .unwrap_or_else(|| panic!("node {id}: ring is not 20 bytes: {}", p["node"]));
        let routing = get_json(&http, &format!("{dash}/proxy/{id}/api/v1/dht/routing"))
            .unwrap_or_else(|| panic!("node {id}: no routing through the proxy"));
        assert_eq!(
            routing["node"]["ring"], hex,
            "node {id}: status and routing disagree"
        );
        assert!(get_json(&http, &format!("{dash}/proxy/{id}/api/v1/dht/size")).is_some());
        assert!(p["keys"].is_u64(), "node {id}: keys {}", p["keys"]);
        println!(
            "node {id}: ring {}…, {} keys, {}",
            &hex[..8],
            p["keys"],
            p["state"]
        );
        // logic.js's ringAngle places a node by its first 4 bytes.
        places.push(u32::from_str_radix(&hex[..8], 16).unwrap());
    }
    places.sort_unstable();
    places.dedup();
    assert_eq!(places.len(), 4, "two nodes would be drawn at one place");
    drop(cluster);
}

/// The gossip panel draws the eager links from `status.protocol.eager_peers`
/// and a broadcast's coverage from each node's new messages (a paging query
/// the proxy must forward) and the beacon's trace (node 1 is the launcher's
/// beacon); checks each on a real 5-node overlay.
#[test]
fn a_gossip_cluster_gives_the_graph_and_coverage_what_they_draw() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "gossip", 5, 17550, &[], &[]);
    let dash = "http://127.0.0.1:25550";
    let http = client(Duration::from_secs(5));
    let protocol = |id: u16| {
        get_json(&http, &format!("{dash}/proxy/{id}/api/v1/status")).map(|s| s["protocol"].clone())
    };
    wait_for(
        Duration::from_secs(40),
        "every node joined, eager links joining all five",
        || {
            let mut reached = std::collections::BTreeSet::from([1u64]);
            let links: Vec<(u64, Vec<u64>)> = (1..=5)
                .map(|id| {
                    let p = protocol(id)?;
                    (p["joined"] == true).then_some(())?;
                    let eager = p["eager_peers"]
                        .as_array()?
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect();
                    Some((u64::from(id), eager))
                })
                .collect::<Option<_>>()?;
            for _ in 0..5 {
                for (id, eager) in &links {
                    for peer in eager {
                        if reached.contains(id) || reached.contains(peer) {
                            reached.extend([*id, *peer]);
                        }
                    }
                }
            }
            (reached.len() == 5).then_some(())
        },
    );
    let beacons: Vec<bool> = (1..=5)
        .map(|id| protocol(id).unwrap()["beacon"] == true)
        .collect();
    assert_eq!(
        beacons,
        [true, false, false, false, false],
        "the launcher makes node 1 the beacon"
    );

    let sent = block_on(async {
        http.post(format!("{}/api/v1/gossip/broadcast", cluster.api(3)))
            .json(&json!({"payload": "coverage"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    let id = sent["id"].as_str().expect("a message id").to_string();
    let trace = wait_for(WITHIN, "the beacon's trace counts all five", || {
        let trace = get_json(&http, &format!("{dash}/proxy/1/api/v1/gossip/trace/{id}"))?;
        (trace["nodes"] == 5).then_some(trace)
    });
    println!("beacon trace (node, ms, hops): {}", trace["reports"]);
    let reports = trace["reports"].as_array().unwrap();
    let nodes: std::collections::BTreeSet<u64> =
        reports.iter().map(|r| r[0].as_u64().unwrap()).collect();
    assert_eq!(nodes.len(), 5, "one report per node");
    assert_eq!(reports[0][1], 0, "times count from the first report");

    for node in 1..=5u16 {
        let status = get_json(&http, &format!("{dash}/proxy/{node}/api/v1/status")).unwrap();
        let page = get_json(
            &http,
            &format!("{dash}/proxy/{node}/api/v1/gossip/messages?after=0&limit=32"),
        )
        .unwrap();
        let mine: Vec<&Value> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 1, "node {node}: {page}");
        // The page times a delivery as (status time − uptime_ms + delivered_ms): one clock.
        let (delivered_ms, uptime_ms) = (
            mine[0]["delivered_ms"].as_u64().unwrap(),
            status["uptime_ms"].as_u64().unwrap(),
        );
        assert!(
            delivered_ms <= uptime_ms,
            "node {node}: delivered at {delivered_ms} ms of {uptime_ms} ms up"
        );
        let seq = mine[0]["seq"].as_u64().unwrap();
        let later = get_json(
            &http,
            &format!("{dash}/proxy/{node}/api/v1/gossip/messages?after={seq}&limit=32"),
        )
        .unwrap();
        assert!(
            later["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["id"] != id.as_str()),
            "node {node}: the proxy dropped the paging query: {later}"
        );
    }
    let (status, _, _) = block_on(call(
        &http,
        Method::GET,
        &format!("{dash}/proxy/1/api/v1/gossip/trace/xyz"),
        None,
    ));
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only 16-hex-digit trace ids are forwarded"
    );
    drop(cluster);
}

/// Stops a launcher left running by a failed assertion.
struct Attached {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            skein(&["cluster", "down", "--dir", self.dir.to_str().unwrap()]);
        }
    }
}

fn alive(pid: u64) -> bool {
    // A zombie has exited; only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// `skein cluster up` without `--detach`: the launcher itself serves the
/// page on 8000 + offset, shows the nodes, and on SIGINT stops them all
/// and exits, leaving no process and no listener behind.
#[test]
fn attached_cluster_up_serves_the_page_and_stops_on_sigint() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(support::SKEIN);
    command
        .args([
            "cluster",
            "up",
            "--fresh",
            "--service",
            "raft",
            "--nodes",
            "3",
            "--port-offset",
            "17600",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SKEIN_")) {
        command.env_remove(name);
    }
    let mut child = command.spawn().expect("skein runs");
    let stdout = child.stdout.take().unwrap();
    let mut launcher = Attached {
        child,
        dir: dir.path().to_path_buf(),
    };
    // Bounded: `cluster up` prints a table and a few lines.
    let (lines_tx, lines) = std::sync::mpsc::sync_channel::<String>(256);
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let started = Instant::now();
    let url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| {
                panic!(
                    "no dashboard line within 60 s; printed:\n{}",
                    printed.join("\n")
                )
            });
        printed.push(line.clone());
        if let Some(url) = line.strip_prefix("dashboard: ") {
            break url.to_string();
        }
    };
    println!(
        "attached cluster up printed the dashboard after {:?}",
        started.elapsed()
    );
    assert_eq!(url, "http://127.0.0.1:25600/");
    let http = client(Duration::from_secs(5));
    block_on(async {
        let (status, ct, page) = call(&http, Method::GET, &url, None).await;
        assert_eq!(
            (status, ct.as_deref()),
            (StatusCode::OK, Some("text/html; charset=utf-8"))
        );
        assert!(page.contains("<title>skein dashboard</title>"));
    });
    let config = get_json(&http, &format!("{url}dashboard/config.json")).unwrap();
    assert_eq!(config["launcher"], true, "{config}");
    assert_eq!(config["service"], "raft", "{config}");
    assert_eq!(
        config["nodes"].as_array().map(Vec::len),
        Some(3),
        "{config}"
    );
    let recorded = get_json(&http, &format!("{url}dashboard/cluster")).unwrap();
    let pids: Vec<u64> = recorded["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "{recorded}");
    for id in 1..=3 {
        let status = get_json(&http, &format!("{url}proxy/{id}/api/v1/status"))
            .unwrap_or_else(|| panic!("node {id} does not answer through the page's proxy"));
        assert_eq!(status["id"], id);
        assert_eq!(status["service"], "raft");
    }

    let interrupted = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &launcher.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = wait_for(
        Duration::from_secs(20),
        "the launcher exits on SIGINT",
        || launcher.child.try_wait().unwrap(),
    );
    reader.join().unwrap();
    printed.extend(lines.try_iter());
    println!(
        "stopped {:?} after SIGINT ({exit}); it printed:\n{}",
        interrupted.elapsed(),
        printed.join("\n")
    );
    assert!(exit.success(), "{exit}");
    assert!(
        printed.iter().any(|l| l.starts_with("stopped 3 nodes")),
        "{printed:?}"
    );
    for pid in pids {
        assert!(!alive(pid), "node process {pid} outlived the launcher");
    }
    assert!(
        std::net::TcpStream::connect_timeout(
            &"127.0.0.1:25600".parse().unwrap(),
            Duration::from_secs(1)
        )
        .is_err(),
        "the dashboard still listens after the launcher exited"
    );
}
