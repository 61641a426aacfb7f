//! Container fault tests: the compose clusters of deploy/compose, built from
//! this build's binary (deploy/build-image.sh --binary), on a network the
//! nodes do not control. A client writes continuously while the test
//! docker-kills the leader (or primary), disconnects a node from the network
//! and reconnects it, partitions the cluster into a minority and a majority
//! (the minority moved to a network of its own), and restarts every node in
//! turn. After each fault the test prints how long the cluster took to make
//! progress again (bounded by [`RECOVER_WITHIN`]); at the end it checks that
//! no acknowledged write was lost and the history is linearizable.
//!
//! Without a docker engine and compose these tests print why and pass.
//! Nothing is published on the host: the test reaches containers by their
//! addresses on the compose network (the dashboard alone is published, on
//! 127.0.0.1:19510–19511). Every container, network, volume and image made
//! here is removed at the end, also on failure.
//!
//! `cargo test -p skein-cli --test containers -- --nocapture`

#[path = "containers/bft_client.rs"]
mod bft_client;
#[path = "containers/docker.rs"]
mod docker;
#[path = "containers/raft_client.rs"]
mod raft_client;

use docker::{compose_command, wait_for, Image, Project};
use serde_json::Value;
use skein_cli::http::{block_on, client};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the cluster may take to make progress again after a fault: a
/// generous liveness bound for a loaded CI machine, not a performance claim.
const RECOVER_WITHIN: Duration = Duration::from_secs(120);
/// How long a minority stays cut off while the test watches it not progress.
const PARTITION_FOR: Duration = Duration::from_secs(6);

fn compose_or_skip(test: &str) -> Option<Vec<String>> {
    match compose_command() {
        Ok(compose) => Some(compose),
        Err(why) => {
            eprintln!("{test}: skipped, {why}");
            None
        }
    }
}

fn get_json(url: &str) -> Option<Value> {
    let http = client(Duration::from_secs(2));
    block_on(async { http.get(url).send().await.ok()?.json::<Value>().await.ok() })
}

/// Waits until `count` grows by `by`; how long that took. On a timeout the
/// panic shows what `state` says about the cluster then.
fn progress(what: &str, count: &AtomicUsize, by: usize, state: &dyn Fn() -> String) -> Duration {
    let from = count.load(Ordering::Relaxed);
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < from + by {
        assert!(
            started.elapsed() < RECOVER_WITHIN,
            "{what}: fewer than {by} operations within {RECOVER_WITHIN:?}; the cluster:\n{}",
            state()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    eprintln!(
        "  {what}: {by} more operations within {:.1} s (bound {RECOVER_WITHIN:?})",
        took.as_secs_f64()
    );
    took
}

struct RaftCluster {
    project: Project,
    nodes: u16,
}

impl RaftCluster {
    fn service(id: u16) -> String {
        format!("raft-{id}")
    }

    fn api(&self, id: u16) -> Option<String> {
        let ip = self
            .project
            .ip(&Self::service(id), &self.project.network())?;
        Some(format!("http://{ip}:{}", 4000 + id))
    }

    fn apis(&self) -> String {
        let apis: Vec<String> = (1..=self.nodes).filter_map(|id| self.api(id)).collect();
        apis.join(",")
    }

    fn status_at(api: &str) -> Option<Value> {
        get_json(&format!("{api}/api/v1/raft/status"))
    }

    /// The leader every reachable node names and which says it leads.
    fn leader(&self, among: &[u16]) -> u16 {
        let mut leader = 0;
        wait_for("an agreed raft leader", RECOVER_WITHIN, || {
            let statuses: Vec<Value> = among
                .iter()
                .filter_map(|&id| Self::status_at(&self.api(id)?))
                .collect();
            let named: Vec<Option<u64>> = statuses.iter().map(|s| s["leader"].as_u64()).collect();
            let Some(Some(first)) = named.first().copied() else {
                return false;
            };
            let leads = statuses
                .iter()
                .any(|s| s["id"].as_u64() == Some(first) && s["role"] == "Leader");
            leader = first as u16;
            statuses.len() == among.len() && named.iter().all(|n| *n == Some(first)) && leads
        });
        leader
    }

    fn container(&self, id: u16) -> String {
        self.project.container(&Self::service(id))
    }

    /// Back on the compose network under its names, after a disconnect.
    fn reconnect(&self, id: u16) {
        let service = Self::service(id);
        docker::docker(&[
            "network",
            "connect",
            "--alias",
            "raft",
            "--alias",
            &service,
            &self.project.network(),
            &self.container(id),
        ]);
    }
}

#[test]
fn raft_in_compose_survives_kills_disconnects_partitions_and_a_rolling_restart() {
    let Some(compose) = compose_or_skip("raft containers") else {
        return;
    };
    let started = Instant::now();
    let image = Image::build("raft");
    let project = Project::new(compose, "raft", "deploy/compose/raft.yml", &image)
        .env("SKEIN_DASHBOARD_PORT", "19510");
    project.must(&["up", "--detach", "--no-color"]);
    let cluster = RaftCluster { project, nodes: 3 };
    let all = [1, 2, 3];
    let leader = cluster.leader(&all);
    eprintln!(
        "raft: 3 nodes up, leader {leader}, {:.1} s after the test started",
        started.elapsed().as_secs_f64()
    );
    // The dashboard, the one published port, reaches every node through its proxy.
    wait_for("the dashboard proxies node 3", RECOVER_WITHIN, || {
        get_json("http://127.0.0.1:19510/proxy/3/api/v1/status")
            .is_some_and(|s| s["id"] == 3 && s["service"] == "raft")
    });

    let apis = raft_client::Apis::default();
    apis.set(cluster.apis());
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let definite = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..raft_client::CLIENTS)
        .map(|c| {
            let (apis, stop, definite) = (apis.clone(), stop.clone(), definite.clone());
            std::thread::spawn(move || raft_client::run_client(c, apis, epoch, stop, definite))
        })
        .collect();
    let stop_clients = StopOnDrop(stop.clone());
    let state = || {
        let rows: Vec<String> = (1..=3u16)
            .map(|id| {
                let status = cluster.api(id).and_then(|api| RaftCluster::status_at(&api));
                match status {
                    Some(s) => format!(
                        "node {id}: {} term {} leader {} commit {}",
                        s["role"], s["term"], s["leader"], s["commit_index"]
                    ),
                    None => format!("node {id}: no answer"),
                }
            })
            .collect();
        rows.join("\n")
    };
    const OPS: usize = 40;
    let mut recovery = Vec::new();
    progress("before any fault", &definite, OPS, &state);

    // (1) The leader is killed without warning, then started again.
    let leader = cluster.leader(&all);
    docker::docker(&["kill", &cluster.container(leader)]);
    recovery.push((
        "leader killed",
        progress("leader killed", &definite, OPS, &state),
    ));
    docker::docker(&["start", &cluster.container(leader)]);
    apis.set(cluster.apis());
    cluster.leader(&all);
    progress("killed leader back", &definite, OPS, &state);

    // (2) A follower loses the network, then gets it back.
    let leader = cluster.leader(&all);
    let follower = *all.iter().find(|&&id| id != leader).unwrap();
    docker::docker(&[
        "network",
        "disconnect",
        &cluster.project.network(),
        &cluster.container(follower),
    ]);
    recovery.push((
        "follower disconnected",
        progress("follower disconnected", &definite, OPS, &state),
    ));
    cluster.reconnect(follower);
    apis.set(cluster.apis());
    cluster.leader(&all);
    recovery.push((
        "follower reconnected",
        progress("follower reconnected", &definite, OPS, &state),
    ));

    // (3) The leader alone (a minority) on a network of its own; the majority
    // elects another and goes on; the old leader commits nothing meanwhile.
    let side = cluster.project.side_network("minority");
    let minority = cluster.leader(&all);
    let majority: Vec<u16> = all.iter().copied().filter(|&id| id != minority).collect();
    let container = cluster.container(minority);
    docker::docker(&[
        "network",
        "disconnect",
        &cluster.project.network(),
        &container,
    ]);
    docker::docker(&["network", "connect", &side, &container]);
    let side_api = format!(
        "http://{}:{}",
        cluster
            .project
            .ip(&RaftCluster::service(minority), &side)
            .unwrap(),
        4000 + minority
    );
    let commit = |what: &str| {
        let status = RaftCluster::status_at(&side_api)
            .unwrap_or_else(|| panic!("the minority answers on its own network ({what})"));
        status["commit_index"].as_u64().expect("a commit index")
    };
    std::thread::sleep(Duration::from_secs(1));
    let minority_commit_before = commit("first look");
    recovery.push((
        "majority without the old leader",
        progress("majority without the old leader", &definite, OPS, &state),
    ));
    let new_leader = cluster.leader(&majority);
    assert_ne!(new_leader, minority);
    std::thread::sleep(PARTITION_FOR.saturating_sub(Duration::from_secs(1)));
    let minority_commit_after = commit("second look");
    assert_eq!(
        minority_commit_after, minority_commit_before,
        "the cut-off minority committed entries"
    );
    eprintln!("  minority (node {minority}) stayed at commit index {minority_commit_before} while cut off");
    docker::docker(&["network", "disconnect", &side, &container]);
    cluster.reconnect(minority);
    apis.set(cluster.apis());
    cluster.leader(&all);
    recovery.push((
        "partition healed",
        progress("partition healed", &definite, OPS, &state),
    ));

    // (4) Every node restarted in turn (SIGTERM, then a fresh start).
    for id in all {
        docker::docker(&["restart", "--time", "10", &cluster.container(id)]);
        apis.set(cluster.apis());
        let took = progress(&format!("node {id} restarted"), &definite, OPS, &state);
        recovery.push(("rolling restart step", took));
        cluster.leader(&all);
    }

    stop.store(true, Ordering::Relaxed);
    drop(stop_clients);
    let runs: Vec<raft_client::ClientRun> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();

    // No acknowledged write lost: each key holds its client's last acknowledged value
    // (or a later write whose outcome the client never learned).
    let reader =
        skein_cli::leader_http::LeaderClient::new(&cluster.apis(), Duration::from_secs(5)).unwrap();
    for run in &runs {
        for n in 0..raft_client::KEYS_PER_CLIENT {
            let key = raft_client::key_of(run.client, n);
            let answer = block_on(reader.call(
                reqwest::Method::GET,
                &format!("/api/v1/kv/c/{key}"),
                None,
                None,
            ))
            .expect("a final read");
            let now = answer.body["value"]
                .as_str()
                .and_then(|v| v.parse::<u64>().ok());
            let allowed = raft_client::allowed_final_values(run, key);
            assert!(
                allowed.contains(&now),
                "key c/{key} holds {now:?}, but its client's last acknowledged write allows only {allowed:?}"
            );
        }
    }
    let unknown: usize = runs.iter().map(|r| r.unknown).sum();
    let ops: Vec<raft_client::Op> = runs.into_iter().flat_map(|r| r.ops).collect();
    let verdict = skein_sim::lin::check(
        &skein_sim::lin::CasKvModel,
        &ops,
        skein_sim::lin::CheckLimits::default(),
    );
    eprintln!(
        "raft: {} operations ({unknown} of unknown outcome) over {:.1} s: {verdict:?}",
        ops.len(),
        epoch.elapsed().as_secs_f64()
    );
    assert!(verdict.is_linearizable(), "not linearizable: {verdict:?}");
    let slowest = recovery.iter().map(|(_, d)| *d).max().unwrap();
    eprintln!(
        "raft: slowest recovery {:.1} s (bound {RECOVER_WITHIN:?}); whole test {:.1} s",
        slowest.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Stops the clients if the test panics, so their threads end.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct BftCluster {
    project: Project,
    n: u16,
}

impl BftCluster {
    fn service(id: u16) -> String {
        format!("bftlist-{id}")
    }

    fn container(&self, id: u16) -> String {
        self.project.container(&Self::service(id))
    }

    fn api_on(&self, id: u16, network: &str) -> Option<String> {
        let ip = self.project.ip(&Self::service(id), network)?;
        Some(format!("http://{ip}:{}", 4000 + id))
    }

    /// Every replica's API in id order, a refusing stand-in for those not on the network.
    fn apis(&self) -> Vec<String> {
        (1..=self.n)
            .map(|id| {
                self.api_on(id, &self.project.network())
                    .unwrap_or_else(|| bft_client::UNREACHABLE.to_string())
            })
            .collect()
    }

    fn status_at(api: &str) -> Option<Value> {
        get_json(&format!("{api}/api/v1/bft/status"))
    }

    fn list_at(api: &str) -> Option<(i64, Vec<i64>)> {
        let body = get_json(&format!("{api}/api/v1/list"))?;
        let list = body["list"]
            .as_array()?
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        Some((body["last_exec"].as_i64()?, list))
    }

    /// The primary that a quorum (n - f = 5) of the replicas names; a
    /// replica just back may take a while longer to adopt the view.
    fn primary(&self) -> u16 {
        let mut primary = 0;
        wait_for("a primary named by 5 replicas", RECOVER_WITHIN, || {
            let mut named: BTreeMap<u64, usize> = BTreeMap::new();
            for api in self.apis() {
                if let Some(p) = Self::status_at(&api).and_then(|s| s["primary"].as_u64()) {
                    *named.entry(p).or_default() += 1;
                }
            }
            let most = named.iter().max_by_key(|(_, count)| **count);
            primary = most.map_or(0, |(p, _)| *p as u16);
            most.is_some_and(|(_, count)| *count >= 5)
        });
        primary
    }

    fn reconnect(&self, id: u16) {
        let service = Self::service(id);
        docker::docker(&[
            "network",
            "connect",
            "--alias",
            "bftlist",
            "--alias",
            &service,
            &self.project.network(),
            &self.container(id),
        ]);
    }
}

#[test]
fn bftlist_in_compose_survives_kills_disconnects_partitions_and_a_rolling_restart() {
    let Some(compose) = compose_or_skip("bftlist containers") else {
        return;
    };
    let started = Instant::now();
    let image = Image::build("bftlist");
    let secret_hex = "5eed".repeat(16);
    let project = Project::new(compose, "bftlist", "deploy/compose/bftlist.yml", &image)
        .env("SKEIN_DASHBOARD_PORT", "19511")
        .env("SKEIN_CLUSTER_SECRET", &secret_hex);
    project.must(&["up", "--detach", "--no-color"]);
    let cluster = BftCluster { project, n: 6 };
    let all: Vec<u16> = (1..=6).collect();
    let primary = cluster.primary();
    eprintln!(
        "bftlist: 6 replicas up, primary {primary}, {:.1} s after the test started",
        started.elapsed().as_secs_f64()
    );
    wait_for("the dashboard proxies replica 6", RECOVER_WITHIN, || {
        get_json("http://127.0.0.1:19511/proxy/6/api/v1/status")
            .is_some_and(|s| s["id"] == 6 && s["service"] == "bftlist")
    });

    let secret = skein_node::auth::resolve_secret(Some(&secret_hex), None)
        .unwrap()
        .expect("a secret");
    let replicas = bft_client::Replicas::default();
    replicas.set(cluster.apis());
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (1..=bft_client::CLIENTS)
        .map(|c| {
            let (replicas, secret, stop, acked) = (
                replicas.clone(),
                secret.clone(),
                stop.clone(),
                acked.clone(),
            );
            std::thread::spawn(move || {
                bft_client::run_client(c, replicas, secret, epoch, stop, acked)
            })
        })
        .collect();
    let stop_clients = StopOnDrop(stop.clone());
    let state = || {
        let rows: Vec<String> = cluster
            .apis()
            .iter()
            .enumerate()
            .map(|(at, api)| match BftCluster::status_at(api) {
                Some(s) => format!(
                    "replica {}: view {} primary {} phase {}",
                    at + 1,
                    s["view"],
                    s["primary"],
                    s["phase"]
                ),
                None => format!("replica {}: no answer", at + 1),
            })
            .collect();
        rows.join("\n")
    };
    const OPS: usize = 5;
    let mut recovery = Vec::new();
    progress("before any fault", &acked, OPS, &state);

    // (1) The primary is killed; the others change view and go on.
    let primary = cluster.primary();
    docker::docker(&["kill", &cluster.container(primary)]);
    replicas.set(cluster.apis());
    recovery.push(progress("primary killed", &acked, OPS, &state));
    docker::docker(&["start", &cluster.container(primary)]);
    replicas.set(cluster.apis());
    progress("killed primary back", &acked, OPS, &state);

    // (2) A replica loses the network, then gets it back.
    let primary = cluster.primary();
    let other = *all.iter().find(|&&id| id != primary).unwrap();
    docker::docker(&[
        "network",
        "disconnect",
        &cluster.project.network(),
        &cluster.container(other),
    ]);
    replicas.set(cluster.apis());
    recovery.push(progress("replica disconnected", &acked, OPS, &state));
    cluster.reconnect(other);
    replicas.set(cluster.apis());
    recovery.push(progress("replica reconnected", &acked, OPS, &state));

    // (3) The primary alone (the minority; n - f = 5 replicas are a quorum)
    // on a network of its own: it executes nothing meanwhile.
    let side = cluster.project.side_network("minority");
    let minority = cluster.primary();
    let container = cluster.container(minority);
    docker::docker(&[
        "network",
        "disconnect",
        &cluster.project.network(),
        &container,
    ]);
    docker::docker(&["network", "connect", &side, &container]);
    replicas.set(cluster.apis());
    let side_api = cluster
        .api_on(minority, &side)
        .expect("on the side network");
    let executed = |what: &str| {
        BftCluster::list_at(&side_api)
            .unwrap_or_else(|| panic!("the minority answers on its own network ({what})"))
            .0
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = executed("first look");
    recovery.push(progress(
        "majority without the old primary",
        &acked,
        OPS,
        &state,
    ));
    std::thread::sleep(PARTITION_FOR.saturating_sub(Duration::from_secs(1)));
    let after = executed("second look");
    assert_eq!(after, before, "the cut-off minority executed requests");
    eprintln!("  minority (replica {minority}) stayed at seq {before} while cut off");
    docker::docker(&["network", "disconnect", &side, &container]);
    cluster.reconnect(minority);
    replicas.set(cluster.apis());
    recovery.push(progress("partition healed", &acked, OPS, &state));

    // (4) Every replica restarted in turn, the next once this one serves
    // again in the quorum's view (else two would be out at once: f = 1).
    for &id in &all {
        docker::docker(&["restart", "--time", "10", &cluster.container(id)]);
        replicas.set(cluster.apis());
        let what = format!("replica {id} restarted");
        recovery.push(progress(&what, &acked, OPS, &state));
        let primary = cluster.primary();
        let api = cluster.apis()[usize::from(id) - 1].clone();
        let back = wait_for(
            &format!("replica {id} back in the view"),
            RECOVER_WITHIN,
            || {
                BftCluster::status_at(&api).is_some_and(|s| {
                    s["primary"].as_u64() == Some(u64::from(primary)) && s["allow_service"] == true
                })
            },
        );
        eprintln!(
            "  replica {id} serving in the view again {:.1} s later",
            back.as_secs_f64()
        );
    }

    stop.store(true, Ordering::Relaxed);
    drop(stop_clients);
    let appends: Vec<bft_client::Append> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    // The replicas converge on one list; it must hold every acknowledged append.
    let mut list = Vec::new();
    wait_for(
        "every replica at the same executed list",
        RECOVER_WITHIN,
        || {
            let lists: Vec<Option<(i64, Vec<i64>)>> = cluster
                .apis()
                .iter()
                .map(|api| BftCluster::list_at(api))
                .collect();
            let Some(Some(first)) = lists.first().cloned() else {
                return false;
            };
            list = first.1.clone();
            lists.iter().all(|l| l.as_ref() == Some(&first))
        },
    );
    let acked_count = appends.iter().filter(|a| a.acked.is_some()).count();
    eprintln!(
        "bftlist: {} appends ({acked_count} acknowledged), final list of {} over {:.1} s",
        appends.len(),
        list.len(),
        epoch.elapsed().as_secs_f64()
    );
    if let Err(why) = bft_client::check(&list, &appends) {
        panic!("bftlist history: {why}");
    }
    let slowest = recovery.iter().max().unwrap();
    eprintln!(
        "bftlist: slowest recovery {:.1} s (bound {RECOVER_WITHIN:?}); whole test {:.1} s",
        slowest.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
