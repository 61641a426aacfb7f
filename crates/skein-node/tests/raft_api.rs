//! The raft service's REST API on one real in-process node (a one-voter
//! cluster leads itself): every route answers as documented, and bad input
//! gets a JSON 4xx with nothing written.

use reqwest::StatusCode;
use serde_json::{json, Value};
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::time::Duration;

struct Node {
    api: String,
    metrics: String,
    shutdown: CancellationToken,
    _data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn raft() -> skein_node::Service {
    skein_node::service::builtin()
        .into_iter()
        .find(|s| s.name == "raft")
        .expect("raft is a built-in service")
}

async fn start(port_offset: u16) -> Node {
    let bases = PortBases::shifted(port_offset).unwrap();
    let data = tempfile::tempdir().unwrap();
    let overrides = NodeOverrides {
        id: Some(1),
        service: Some("raft".into()),
        data_dir: Some(data.path().to_path_buf()),
        request_timeout_ms: Some(3000),
        ..NodeOverrides::on_ports(bases)
    };
    let settings = NodeSettings::resolve(overrides, Default::default()).unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(raft().run(settings, shutdown.clone()));
    let node = Node {
        api: format!("http://127.0.0.1:{}", bases.api + 1),
        metrics: format!("http://127.0.0.1:{}/metrics", bases.metrics + 1),
        shutdown,
        _data: data,
    };
    // Ready once it has elected itself and answers a linearizable read.
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{}/api/v1/kv/none", node.api)).await {
            if r.status() == StatusCode::NOT_FOUND {
                return node;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("raft node did not become leader");
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_routes_answer_as_documented() {
    let node = start(11_800).await;
    let http = reqwest::Client::new();
    let kv = |key: &str| format!("{}/api/v1/kv/{key}", node.api);

    // Raw text and JSON bodies; keys may contain '/'.
    let (status, body) = json_of(http.put(kv("a/b")).body("raw text").send().await.unwrap()).await;
    assert_eq!(
        (status, body["key"].clone()),
        (StatusCode::OK, json!("a/b"))
    );
    let first = body["revision"].as_u64().unwrap();
    let response = http
        .put(kv("a/c"))
        .json(&json!({"value": "from json"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http.get(kv("a/b")).send().await.unwrap();
    assert_eq!(response.headers()["etag"], format!("\"{first}\"").as_str());
    let (_, body) = json_of(response).await;
    assert_eq!(body["value"], "raw text");
    let (_, body) = json_of(http.get(kv("a/c")).send().await.unwrap()).await;
    assert_eq!(body["value"], "from json");

    // Compare-and-swap with If-Match.
    let stale = http
        .put(kv("a/b"))
        .header("if-match", "0")
        .body("x")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(stale).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        (body["code"].clone(), body["revision"].clone()),
        (json!("revision_mismatch"), json!(first))
    );
    let fresh = http
        .put(kv("a/b"))
        .header("if-match", format!("\"{first}\""))
        .body("swapped")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    let absent = http
        .put(kv("new"))
        .header("if-match", "0")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(absent.status(), StatusCode::OK);

    // Listing pages through keys in order.
    let (status, page) = json_of(
        http.get(format!("{}/api/v1/kv?prefix=a/&limit=1", node.api))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["key"], "a/b");
    assert_eq!(
        (page["more"].clone(), page["next_start_after"].clone()),
        (json!(true), json!("a/b"))
    );
    let (_, page) = json_of(
        http.get(format!("{}/api/v1/kv?prefix=a/&start_after=a/b", node.api))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (page["items"][0]["key"].clone(), page["more"].clone()),
        (json!("a/c"), json!(false))
    );

    // Delete.
    let (_, body) = json_of(http.delete(kv("a/c")).send().await.unwrap()).await;
    assert_eq!(body["existed"], true);
    let (status, body) = json_of(http.get(kv("a/c")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("key_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_4xx_and_writes_nothing() {
    let node = start(11_810).await;
    // A refused oversized body closes its connection: never reuse one.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let kv = |key: &str| format!("{}/api/v1/kv/{key}", node.api);
    let cases = [
        (
            http.put(kv("k")).body("v".repeat(64 * 1024 + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
        ),
        (
            http.put(kv("k")).body("v".repeat(1024 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            http.put(kv(&"k".repeat(4 * 1024 + 1))).body("v"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "key_too_large",
        ),
        (
            http.put(kv("k"))
                .header("content-type", "application/json")
                .body("{\"value\":"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.put(kv("k")).json(&json!({"valu": "x"})),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.put(kv("k")).body(vec![0xff, 0xfe]),
            StatusCode::BAD_REQUEST,
            "bad_value",
        ),
        (
            http.put(kv("k")).header("if-match", "seven").body("v"),
            StatusCode::BAD_REQUEST,
            "bad_if_match",
        ),
        (
            http.get(format!("{}/api/v1/kv?limit=1001", node.api)),
            StatusCode::BAD_REQUEST,
            "bad_limit",
        ),
        (
            http.get(format!("{}/api/v1/kv?limit=x", node.api)),
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            http.post(format!("{}/api/v1/raft/members", node.api))
                .json(&json!({"id": 7})),
            StatusCode::BAD_REQUEST,
            "unknown_node",
        ),
        (
            http.post(format!("{}/api/v1/raft/members", node.api))
                .body("{"),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            http.delete(format!("{}/api/v1/raft/members/7", node.api)),
            StatusCode::NOT_FOUND,
            "unknown_node",
        ),
        (
            http.delete(format!("{}/api/v1/raft/members/abc", node.api)),
            StatusCode::BAD_REQUEST,
            "bad_node_id",
        ),
        (
            http.post(format!("{}/api/v1/raft/transfer-leader", node.api))
                .json(&json!({"to": 9})),
            StatusCode::BAD_REQUEST,
            "unknown_node",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let (_, status) = json_of(
        http.get(format!("{}/api/v1/raft/status", node.api))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        status["keys"], 0,
        "a refused request wrote something: {status}"
    );
    assert_eq!(status["role"], "Leader");
    assert_eq!(status["membership"]["voters"], json!([1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_raft_route_is_documented_and_metrics_follow_the_core() {
    let node = start(11_820).await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", node.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/v1/kv/{key}", "get"),
        ("/api/v1/kv/{key}", "put"),
        ("/api/v1/kv/{key}", "delete"),
        ("/api/v1/kv", "get"),
        ("/api/v1/raft/status", "get"),
        ("/api/v1/raft/members", "post"),
        ("/api/v1/raft/members/{id}", "delete"),
        ("/api/v1/raft/members/{id}/promote", "post"),
        ("/api/v1/raft/transfer-leader", "post"),
        ("/api/v1/status", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let mut text = String::new();
    for _ in 0..40 {
        text = reqwest::get(&node.metrics)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("\nskein_raft_has_leader 1\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in [
        "\nskein_raft_has_leader 1\n",
        "\nskein_raft_is_leader 1\n",
        "\nskein_raft_leader_changes_seen_total 1\n",
        "\nskein_raft_proposals_pending 0\n",
    ] {
        assert!(text.contains(line), "no `{}` in:\n{text}", line.trim());
    }
    assert!(text.contains("\nskein_raft_term "), "{text}");
}
