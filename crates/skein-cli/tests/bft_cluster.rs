//! The bftlist service on real processes: six replicas (f = 1), a client
//! appending through `skein list`, an UNRESPONSIVE primary set by REST, a
//! replica whose state is corrupted by REST, and `skein list check` at the
//! end (BFTLIST.md §5, §6; issue 4's process tests).
//!
//! Port offsets 12000–12490 belong to this file; each test takes its own.

mod support;

use serde_json::{json, Value};
use skein_bft::Op;
use skein_cli::http::{block_on, client};
use skein_core::client_key::ClientKey;
use skein_node::services::bft_http::{SubmitBody, CLIENT_KEY_SERVICE};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use support::{skein, text, Cluster};

/// A deadline for convergence, not a performance claim: generous for slow CI.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);
const NODES: u16 = 6;

impl Cluster {
    /// `cluster up --service bftlist --nodes 6`, with `extra` before `--` and `node_flags` after.
    fn bftlist(dir: &Path, port_offset: u16, extra: &[&str], node_flags: &[&str]) -> Cluster {
        Cluster::start(dir, "bftlist", NODES, port_offset, extra, node_flags)
    }

    fn url(&self, id: u16, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.api_base + id)
    }

    /// One HTTP call: (status, JSON body or null).
    fn call(&self, method: &str, id: u16, path: &str, body: Option<Value>) -> (u16, Value) {
        let http = client(Duration::from_secs(10));
        let url = self.url(id, path);
        block_on(async {
            let request = match method {
                "GET" => http.get(&url),
                "PUT" => http.put(&url),
                _ => http.post(&url),
            };
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json().await.unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
    }

    fn bft_status(&self, id: u16) -> Value {
        self.call("GET", id, "/api/v1/bft/status", None).1
    }

    /// Polls until `check` holds for every listed node's bftlist status.
    fn wait_until(&self, ids: &[u16], what: &str, check: impl Fn(&Value) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let statuses: Vec<Value> = ids.iter().map(|&id| self.bft_status(id)).collect();
            if statuses.iter().all(&check) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < CONVERGE_WITHIN,
                "not within {CONVERGE_WITHIN:?}: {what}; last statuses: {statuses:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `skein list ARGS --dir DIR`.
    fn list(&self, args: &[&str]) -> Output {
        let mut all = vec!["list"];
        all.extend(args);
        all.extend(["--dir", self.dir.to_str().unwrap(), "--timeout-secs", "30"]);
        skein(&all)
    }

    /// Appends `values` one after another through `skein list append`; returns each one's latency.
    fn append_all(&self, values: impl Iterator<Item = i64>) -> Vec<Duration> {
        values
            .map(|v| {
                let start = Instant::now();
                let out = self.list(&["append", &v.to_string()]);
                assert!(out.status.success(), "append {v}: {}", text(&out));
                assert!(text(&out).contains("appended at seq"), "{}", text(&out));
                start.elapsed()
            })
            .collect()
    }

    fn lists(&self, ids: &[u16]) -> Vec<Value> {
        ids.iter()
            .map(|&id| self.call("GET", id, "/api/v1/list", None).1)
            .collect()
    }
}

fn in_view(v: u64) -> impl Fn(&Value) -> bool {
    move |s| s["view"] == v && s["allow_service"] == true
}

/// Six replicas and a client appending: the primary of view 0 (node 1) turns
/// UNRESPONSIVE, the others change view and appends go on; then node 4's
/// state is corrupted and it converges back to the others' list; at the end
/// `skein list check` finds every replica's history consistent.
#[test]
fn bftlist_survives_an_unresponsive_primary_and_a_corrupted_replica() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<u16> = (1..=NODES).collect();
    let cluster = Cluster::bftlist(
        dir.path(),
        12000,
        &[],
        &["--allow-fault-injection", "--peer-timeout-ms", "1000"],
    );
    cluster.wait_until(&all, "a stable view 0", in_view(0));
    let before = cluster.append_all(1..=5);

    // The primary of view 0 stops sending anything.
    let (code, body) = cluster.call(
        "PUT",
        1,
        "/api/v1/bft/byzantine",
        Some(json!({"behaviour": "unresponsive"})),
    );
    assert_eq!((code, &body["behaviour"]), (200, &json!("unresponsive")));
    let changed = cluster.wait_until(&all[1..], "a view change away from node 1", |s| {
        s["view"].as_u64().is_some_and(|v| v != 0) && s["allow_service"] == true
    });
    let during = cluster.append_all(6..=10);
    // The metrics tell the same story (sampled every 250 ms).
    let metrics_url = format!("http://127.0.0.1:{}/metrics", cluster.api_base - 1000 + 2);
    let deadline = std::time::Instant::now() + CONVERGE_WITHIN;
    loop {
        let http = client(Duration::from_secs(2));
        let text = block_on(async { http.get(&metrics_url).send().await.ok()?.text().await.ok() })
            .unwrap_or_default();
        let view_changed = text
            .lines()
            .any(|l| l.starts_with("skein_bft_view ") && !l.ends_with(" 0") && !l.ends_with(" -1"));
        let counted = text
            .lines()
            .any(|l| l.starts_with("skein_bft_view_changes_seen_total ") && !l.ends_with(" 0"));
        if view_changed && counted {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2's metrics never showed the view change:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "view change after UNRESPONSIVE primary: {changed:?}; append latency before {before:?}, after {during:?}"
    );
    let scraped = block_on(async {
        client(Duration::from_secs(2))
            .get(&metrics_url)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    })
    .unwrap_or_default();
    for series in [
        "skein_bft_convergence_seconds_count ",
        "skein_bft_request_execution_seconds_count ",
        r#"skein_protocol_messages_sent_total{kind="rep.structure"} "#,
        r#"skein_protocol_message_bytes_sent_total{kind="ve.info"} "#,
        r#"skein_protocol_messages_received_total{kind="pm.vcm"} "#,
    ] {
        assert!(
            scraped
                .lines()
                .any(|l| l.starts_with(series) && !l.ends_with(" 0")),
            "node 2's metrics lack a non-zero {series:?}:\n{scraped}"
        );
    }

    // Node 1 becomes correct again; node 4 suffers a transient fault.
    let (code, _) = cluster.call(
        "PUT",
        1,
        "/api/v1/bft/byzantine",
        Some(json!({"behaviour": null})),
    );
    assert_eq!(code, 200);
    let (code, body) = cluster.call("POST", 4, "/api/v1/bft/corrupt", Some(json!({"seed": 7})));
    assert_eq!((code, &body["seed"]), (200, &json!(7)), "{body}");
    let start = Instant::now();
    cluster.append_all(11..=13);
    let expected: Vec<i64> = (1..=13).collect();
    loop {
        let lists = cluster.lists(&all);
        if lists.iter().all(|l| l["list"] == json!(expected)) {
            break;
        }
        assert!(
            start.elapsed() < CONVERGE_WITHIN,
            "replicas did not converge on {expected:?}: {lists:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("corrupted node 4 converged within {:?}", start.elapsed());

    let out = cluster.list(&["check"]);
    assert!(out.status.success(), "list check: {}", text(&out));
    assert!(text(&out).contains("consistent"), "{}", text(&out));
    let out = cluster.list(&["show"]);
    assert!(out.status.success(), "list show: {}", text(&out));
    assert!(
        text(&out).contains(&format!("{expected:?}")),
        "{}",
        text(&out)
    );
}

/// Without `--allow-fault-injection` the fault routes answer 403 naming the
/// flag, and the generic `/api/v1/request` cannot go around them; bad
/// requests get 4xx JSON errors; every route is in the OpenAPI document.
#[test]
fn bftlist_api_refuses_fault_injection_without_the_flag_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::bftlist(dir.path(), 12100, &[], &[]);
    let (code, body) = cluster.call("POST", 2, "/api/v1/bft/corrupt", Some(json!({"seed": 1})));
    assert_eq!(code, 403, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("--allow-fault-injection"));
    let (code, _) = cluster.call(
        "PUT",
        2,
        "/api/v1/bft/byzantine",
        Some(json!({"behaviour": "unresponsive"})),
    );
    assert_eq!(code, 403);
    let sneaky = json!({"Admin": {"Corrupt": {"seed": 1}}});
    let (code, body) = cluster.call("POST", 2, "/api/v1/request", Some(sneaky));
    assert_eq!(code, 200);
    assert!(
        body["reply"]["Refused"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--allow-fault-injection")),
        "{body}"
    );
    let (code, body) = cluster.call("GET", 2, "/api/v1/bft/byzantine", None);
    assert_eq!((code, body), (200, json!({"behaviour": null})));

    let submit = |body: Value| {
        cluster
            .call("POST", 3, "/api/v1/list/requests", Some(body))
            .0
    };
    assert_eq!(submit(json!({"client": 0, "ts": 1, "op": "pop"})), 400);
    assert_eq!(submit(json!({"client": 0, "ts": 1, "op": "append"})), 400);
    assert_eq!(submit(json!({"client": 0, "ts": 1})), 400, "missing op");
    let big = vec![1; 40_000];
    assert_eq!(
        submit(json!({"client": 0, "ts": 1, "op": "append", "value": 1, "pad": big})),
        413
    );
    // The cluster authenticates clients: each node holds only its own keys
    // (keys/node-ID.keys), and unsigned or wrongly signed requests are
    // refused before they reach the core.
    let secret = skein_node::auth::resolve_secret(None, Some(&cluster.dir.join("cluster.secret")))
        .unwrap()
        .unwrap();
    let signed = |client: u32, signer: u32, replica: u16| {
        let key = ClientKey::derive(
            &secret,
            CLIENT_KEY_SERVICE,
            signer,
            skein_core::NodeId(replica),
        );
        serde_json::to_value(SubmitBody::new(client, 1, &Op::Append(1), Some(&key))).unwrap()
    };
    let (code, body) = cluster.call(
        "POST",
        3,
        "/api/v1/list/requests",
        Some(json!({"client": 0, "ts": 1, "op": "append", "value": 1})),
    );
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("skein list key --client 0"),
        "{body}"
    );
    assert_eq!(
        submit(signed(1, 2, 3)),
        401,
        "client 2's key does not sign for client 1"
    );
    assert_eq!(
        submit(signed(1, 1, 2)),
        401,
        "the tag for replica 2 does not convince replica 3"
    );
    let (code, body) = cluster.call(
        "POST",
        3,
        "/api/v1/list/requests",
        Some(signed(999, 999, 3)),
    );
    assert_eq!(
        code, 422,
        "a well-signed request reaches the core, which refuses the id: {body}"
    );
    assert!(
        body["error"].as_str().unwrap().contains("out of range"),
        "{body}"
    );
    let keys = std::fs::read_to_string(cluster.dir.join("keys/node-3.keys")).unwrap();
    assert!(
        keys.contains("peer 1 ") && !keys.contains("peer 3 "),
        "own pair keys only"
    );

    let (_, openapi) = cluster.call("GET", 1, "/openapi.json", None);
    for path in [
        "/api/v1/list/requests",
        "/api/v1/list",
        "/api/v1/bft/status",
        "/api/v1/bft/state",
        "/api/v1/bft/byzantine",
        "/api/v1/bft/corrupt",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} not in OpenAPI");
    }

    // The client also finds the replicas by --nodes and --port-offset, and
    // signs with only its own key, printed by `skein list key`.
    let out = cluster.list(&["key", "--client", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let by_nodes = |args: &[&str]| {
        let mut all = vec!["list", "--nodes", "6", "--port-offset", "12100"];
        all.extend(args);
        all.extend(["--timeout-secs", "30"]);
        skein(&all)
    };
    let out = by_nodes(&["append", "5", "--client", "2", "--client-key", &key]);
    assert!(out.status.success(), "{}", text(&out));
    let out = by_nodes(&["append", "6", "--client", "3", "--client-key", &key]);
    assert!(
        !out.status.success(),
        "another client's key: {}",
        text(&out)
    );
    assert!(text(&out).contains("not client 3's"), "{}", text(&out));
    let out = by_nodes(&["read", "--client", "2", "--client-key", &key]);
    assert!(text(&out).contains("list [5]"), "{}", text(&out));
}

/// `cluster up --byzantine 3:different-views` starts node 3 acting it out;
/// the correct replicas stay in their view and keep executing (§5).
#[test]
fn cluster_up_starts_a_byzantine_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::bftlist(
        dir.path(),
        12200,
        &["--byzantine", "3:different-views"],
        &[],
    );
    let (_, body) = cluster.call("GET", 3, "/api/v1/bft/byzantine", None);
    assert_eq!(body, json!({"behaviour": "different-views"}));
    let correct = [1, 2, 4, 5, 6];
    cluster.wait_until(
        &correct,
        "a stable view 0 at the correct replicas",
        in_view(0),
    );
    cluster.append_all(1..=3);
    cluster.wait_until(&correct, "still view 0", in_view(0));
    let out = cluster.list(&["check"]);
    assert!(out.status.success(), "list check: {}", text(&out));

    // A service without Byzantine behaviours refuses the flag.
    let out = skein(&[
        "node",
        "--id",
        "1",
        "--service",
        "heartbeat",
        "--byzantine",
        "unresponsive",
        "--port-offset",
        "12300",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no Byzantine behaviours"),
        "{}",
        text(&out)
    );
}

/// Every replica starts from an arbitrary state file (the original's
/// injected start state, BFTLIST.md §4: here one corrupted state for all
/// six); the cluster converges by itself to a stable view, executes
/// appends, and its replicas' histories agree.
#[test]
fn replicas_started_from_a_corrupted_state_file_converge() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<skein_core::NodeId> = (1..=NODES).map(skein_core::NodeId).collect();
    let config = skein_bft::BftConfig {
        allow_fault_injection: true,
        ..Default::default()
    };
    let mut node = skein_bft::BftNode::new(members[0], &members, &config);
    node.admin(skein_bft::AdminRequest::Corrupt { seed: 11 })
        .unwrap();
    let state_file = dir.path().join("start-state.json");
    std::fs::write(&state_file, serde_json::to_vec(node.state()).unwrap()).unwrap();
    let setting = format!("start_state_file={}", state_file.display());
    let cluster = Cluster::bftlist(
        dir.path(),
        12400,
        &[],
        &["--allow-fault-injection", "--set", &setting],
    );
    let all: Vec<u16> = (1..=NODES).collect();
    let settled = cluster.wait_until(&all, "a stable view after the injected state", |s| {
        s["view"].as_u64().is_some() && s["allow_service"] == true
    });
    // Convergence may first take the list the injected state held; what
    // matters is that the replicas agree and execute new requests.
    cluster.append_all(1..=3);
    let out = cluster.list(&["check"]);
    assert!(out.status.success(), "list check: {}", text(&out));
    let lists = cluster.lists(&all);
    for list in &lists {
        let values = list["list"].as_array().unwrap();
        assert!(
            values.ends_with(&[json!(1), json!(2), json!(3)]),
            "{lists:#?}"
        );
    }
    println!("six replicas started from a corrupted state settled in {settled:?}");
}
