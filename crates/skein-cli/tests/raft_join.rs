//! A brand-new node joins a running raft cluster: it is in none of the
//! members' `--peers`, is added as a learner with its address, promoted,
//! and then carries the cluster when an original member is killed — it
//! votes, serves reads as leader, and the members redirect to it.
//!
//! Port offsets 16000–16490 (this file and later raft process tests).

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use skein_cli::http::block_on;
use support::raft::{put, wait_for, NodeProcess, CONVERGE_WITHIN};
use support::{skein, text, Cluster};

fn voters(status: &Value) -> Vec<u64> {
    let voters = status["membership"]["voters"].as_array();
    voters.map_or(Vec::new(), |v| v.iter().filter_map(Value::as_u64).collect())
}

#[test]
fn a_node_outside_every_peers_list_is_added_promoted_and_carries_on_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let offset = 16_000;
    let cluster = Cluster::raft(dir.path(), 3, offset);
    let leader = cluster.leader(&[1, 2, 3]);
    put(&cluster.client(&cluster.all_apis()), "before/1", "a");

    // Node 4: the members do not know it; it knows them and the secret.
    let secret = cluster.dir.join("cluster.secret");
    let data = dir.path().join("node-4-data");
    let offset_text = offset.to_string();
    let _node4 = NodeProcess::start(
        dir.path(),
        4,
        &[
            "--service",
            "raft",
            "--peers",
            "1,2,3",
            "--port-offset",
            &offset_text,
            "--data-dir",
            data.to_str().unwrap(),
            "--cluster-secret-file",
            secret.to_str().unwrap(),
            "--request-timeout-ms",
            "3000",
            "--set",
            "join_existing=true",
        ],
    );
    let apis = format!("{},{}", cluster.all_apis(), cluster.api(4));
    wait_for("node 4 answers", CONVERGE_WITHIN, || {
        cluster.raft_status(4).is_some()
    });

    // Without an address the members cannot reach it: refused, nothing changes.
    let out = skein(&["raft", "add", "--api", &apis, "4"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown_node"),
        "{}",
        text(&out)
    );

    let out = skein(&[
        "raft",
        "add",
        "--api",
        &apis,
        "4",
        "--address",
        "127.0.0.1",
        "--learner",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["learners"], json!([4]), "{added}");
    let address = format!("4@127.0.0.1:{}:{}", 5004 + offset, 7004 + offset);
    assert_eq!(added["addresses"]["4"], json!(address), "{added}");

    let client = cluster.client(&apis);
    let written = put(&client, "after-learner", "b")["revision"]
        .as_u64()
        .unwrap();
    cluster.wait_applied(4, written);
    assert_eq!(
        cluster.raft_status(4).unwrap()["role"],
        "Follower",
        "a learner follows"
    );

    // Promote (AddMember on a caught-up learner makes it a voter).
    let out = skein(&["raft", "add", "--api", &apis, "4"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("node 4 votes", CONVERGE_WITHIN, || {
        cluster
            .raft_status(leader)
            .is_some_and(|s| voters(&s) == [1, 2, 3, 4])
    });

    // Kill an original member (the leader): 3 of 4 voters remain, a quorum.
    cluster.act("kill", leader);
    let alive: Vec<u16> = [1, 2, 3, 4]
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    cluster.leader(&alive);
    for i in 0..20 {
        put(&client, &format!("after-kill/{i}"), "c");
    }

    // Node 4 leads and serves reads itself; the members redirect to it.
    let out = skein(&["raft", "transfer", "--api", &apis, "--to", "4"]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("node 4 leads", CONVERGE_WITHIN, || {
        cluster.leader(&alive) == 4
    });
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let read = block_on(async {
        let url = format!("{}/api/v1/kv/after-kill/19", cluster.api(4));
        let response = raw.get(url).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    });
    assert_eq!(read.0, 200, "{read:?}");
    assert_eq!(read.1["value"], "c");
    let member = alive[0];
    let redirect = block_on(
        raw.get(format!("{}/api/v1/kv/before/1", cluster.api(member)))
            .send(),
    )
    .unwrap();
    assert_eq!(redirect.status(), 307);
    assert_eq!(
        redirect.headers()["location"].to_str().unwrap(),
        format!("{}/api/v1/kv/before/1", cluster.api(4)),
        "node {member} learned node 4's API address"
    );

    // The killed member restarts, re-adds node 4 from its persisted
    // configuration and catches up from it.
    cluster.act("restart", leader);
    let last = put(&client, "after-restart", "d")["revision"]
        .as_u64()
        .unwrap();
    cluster.wait_applied(leader, last);
    let keys = |id| cluster.raft_status(id).unwrap()["keys"].clone();
    assert_eq!(keys(leader), keys(4));
    let read = block_on(client.call(Method::GET, "/api/v1/kv/before/1", None, None)).unwrap();
    assert_eq!(read.body["value"], "a");
}
