//! Real `skein` processes on loopback: a 4-node cluster sees every peer,
//! notices a SIGKILLed node and a paused one, and takes a restarted node back
//! with its durable state.
//!
//! Each test uses its own port offset so the suite runs in parallel; every
//! port stays below Linux's ephemeral range (32768 and up), so no outgoing
//! connection elsewhere on the machine can be holding a test's port.

mod support;

use skein_cli::http::{block_on, client, fetch_status};
use skein_node::api::StatusResponse;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{skein, Cluster, SKEIN};

/// A deadline for convergence, not a performance claim: generous for slow CI.
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);

impl Cluster {
    /// A heartbeat cluster whose nodes call a peer down after 1 s of silence.
    fn heartbeat(dir: &Path, nodes: u16, port_offset: u16) -> Cluster {
        let cluster = Cluster::start(
            dir,
            "heartbeat",
            nodes,
            port_offset,
            &[],
            &["--peer-timeout-ms", "1000"],
        );
        for id in 1..=nodes {
            let docs = format!("{}/docs", cluster.api(id));
            assert!(
                cluster.up_output.contains(&docs),
                "URL table lacks node {id}:\n{}",
                cluster.up_output
            );
        }
        cluster
    }

    fn status(&self, id: u16) -> Option<StatusResponse> {
        let http = client(Duration::from_millis(500));
        block_on(fetch_status(&http, &self.api(id))).ok()
    }

    /// Polls until `check` holds for every listed node's status.
    fn wait_until(&self, ids: &[u16], what: &str, check: impl Fn(&StatusResponse) -> bool) {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        loop {
            let statuses: Vec<_> = ids.iter().map(|&id| self.status(id)).collect();
            if statuses.iter().all(|s| s.as_ref().is_some_and(&check)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not within {CONVERGE_WITHIN:?}: {what}; last statuses: {statuses:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The pids `cluster up` recorded in DIR/cluster.json.
fn node_pids(dir: &Path) -> Vec<u64> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cluster.json")).unwrap()).unwrap();
    state["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["pid"].as_u64().unwrap())
        .collect()
}

fn assert_all_exited(pids: &[u64]) {
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z"),
            "node pid {pid} still runs"
        );
    }
}

fn peer_up(status: &StatusResponse, peer: u16) -> bool {
    status.peers.iter().any(|p| p.id == peer && p.up)
}

fn incarnation(status: &StatusResponse) -> u64 {
    status.protocol["incarnation"]
        .as_u64()
        .expect("heartbeat status has an incarnation")
}

#[test]
fn four_nodes_see_each_other_notice_a_kill_and_take_the_node_back() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::heartbeat(dir.path(), 4, 11_000);
    let all = [1, 2, 3, 4];
    cluster.wait_until(&all, "every node sees every peer", |s| {
        s.peers.len() == 3 && s.peers.iter().all(|p| p.up)
    });
    let before = incarnation(&cluster.status(3).unwrap());

    cluster.act("kill", 3);
    assert!(
        cluster.status(3).is_none(),
        "a SIGKILLed node still answers"
    );
    cluster.wait_until(&[1, 2, 4], "the others report node 3 down", |s| {
        !peer_up(s, 3) && s.peers.iter().filter(|p| p.up).count() == 2
    });

    cluster.act("restart", 3);
    cluster.wait_until(&all, "node 3 rejoins", |s| s.peers.iter().all(|p| p.up));
    assert_eq!(
        incarnation(&cluster.status(3).unwrap()),
        before + 1,
        "the restart did not recover node 3's persisted incarnation"
    );

    // The status command reads the same cluster.
    let out = skein(&["status", "--cluster", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(table.matches("3/3").count(), 4, "{table}");
}

#[test]
fn a_paused_node_is_reported_down_and_comes_back_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::heartbeat(dir.path(), 3, 11_100);
    cluster.wait_until(&[1, 2, 3], "every node sees every peer", |s| {
        s.peers.iter().all(|p| p.up)
    });
    cluster.act("pause", 2);
    cluster.wait_until(&[1, 3], "node 2 is down while paused", |s| !peer_up(s, 2));
    let out = skein(&["status", "--cluster", "--dir", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("paused"));
    cluster.act("resume", 2);
    cluster.wait_until(&[1, 2, 3], "node 2 is back", |s| {
        s.peers.iter().all(|p| p.up)
    });
}

#[test]
fn down_stops_every_process() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::heartbeat(dir.path(), 2, 11_200);
    let pids = node_pids(dir.path());
    let out = skein(&["cluster", "down", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    assert_all_exited(&pids);
    assert!(cluster.status(1).is_none());
    // Starting again in the same dir works once the old one is down.
    let again = Cluster::heartbeat(dir.path(), 2, 11_200);
    drop(again);
}

#[test]
fn an_attached_cluster_stops_every_node_on_ctrl_c() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let dir = tempfile::tempdir().unwrap();
    let mut launcher = Command::new(SKEIN)
        .args([
            "cluster",
            "up",
            "--service",
            "heartbeat",
            "--nodes",
            "2",
            "--fresh",
            "--port-offset",
            "11300",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _cleanup = Cluster {
        dir: dir.path().to_path_buf(),
        api_base: 15_300,
        nodes: 2,
        up_output: String::new(),
    };
    // Wait until the launcher says it supervises: its URL table is out.
    let stdout = launcher.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .expect("the launcher never said it was running");
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let pids = node_pids(dir.path());

    kill(Pid::from_raw(launcher.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + CONVERGE_WITHIN;
    let status = loop {
        if let Some(status) = launcher.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the launcher did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "launcher exit: {status}");
    assert_all_exited(&pids);
    let log = std::fs::read_to_string(dir.path().join("node-1.log")).unwrap();
    assert!(
        log.contains("node stopped"),
        "node 1 did not shut down gracefully:\n{log}"
    );
}

/// The bftlist core on six real processes: a client sends its request to
/// every replica (BFTLIST.md §3), gets at least f+1 matching replies, and
/// every replica's executed list holds the value.
#[test]
fn bftlist_replicas_execute_an_append_on_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "bftlist", 6, 11_400, &[], &[]);
    let http = client(Duration::from_secs(10));
    let submit = serde_json::json!({"Submit": {"client": 0, "ts": 1, "op": {"Append": 42}}});
    let deadline = Instant::now() + CONVERGE_WITHIN;
    let replies: Vec<serde_json::Value> = loop {
        let replies = block_on(async {
            let sends = (1..=6u16).map(|id| {
                let url = format!("http://127.0.0.1:{}/api/v1/request", cluster.api_base + id);
                let request = http.post(url).json(&submit).send();
                async move { request.await.ok()?.json::<serde_json::Value>().await.ok() }
            });
            futures_join_all(sends).await
        });
        let executed: Vec<_> = replies
            .into_iter()
            .flatten()
            .filter(|r| r["reply"]["Executed"].is_object())
            .collect();
        if executed.len() >= 2 || Instant::now() > deadline {
            break executed;
        }
    };
    assert!(
        replies.len() >= 2,
        "fewer than f+1 = 2 replicas executed the append: {replies:?}"
    );
    assert!(
        replies
            .iter()
            .all(|r| r["reply"]["Executed"]["seq"] == replies[0]["reply"]["Executed"]["seq"]),
        "{replies:?}"
    );
    cluster.wait_until(&[1, 2, 3, 4, 5, 6], "every replica's list is [42]", |s| {
        s.protocol["executed_len"] == 1
    });
}

/// Runs the futures concurrently: a replica answers only once the others
/// hold the request too, so one-at-a-time would never finish.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("request task"));
    }
    out
}

#[test]
fn bftlist_refuses_a_cluster_smaller_than_5f_plus_1() {
    let out = skein(&[
        "node",
        "--id",
        "1",
        "--service",
        "bftlist",
        "--peers",
        "1,2,3,4",
        "--port-offset",
        "11500",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("5f+1"), "{stderr}");
}
