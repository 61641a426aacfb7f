//! One real node in-process: every endpoint a user opens answers as documented.

use skein_core::heartbeat::Heartbeat;
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

async fn start(port_offset: u16) -> Node {
    let bases = PortBases::shifted(port_offset).unwrap();
    let data = tempfile::tempdir().unwrap();
    let overrides = NodeOverrides {
        id: Some(1),
        peers: Some(vec!["2".into()]),
        data_dir: Some(data.path().to_path_buf()),
        request_timeout_ms: Some(1000),
        ..NodeOverrides::on_ports(bases)
    };
    let settings = NodeSettings::resolve(overrides, Default::default()).unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings,
        shutdown.clone(),
    ));
    let node = Node {
        api: format!("http://127.0.0.1:{}", bases.api + 1),
        metrics: format!("http://127.0.0.1:{}/metrics", bases.metrics + 1),
        shutdown,
        _data: data,
    };
    for _ in 0..200 {
        if reqwest::get(format!("{}/api/v1/status", node.api))
            .await
            .is_ok()
        {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_capabilities_docs_and_metrics_answer() {
    let node = start(22_000).await;
    let status: serde_json::Value = reqwest::get(format!("{}/api/v1/status", node.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["id"], 1);
    assert_eq!(status["service"], "heartbeat");
    assert_eq!(status["peers"][0]["id"], 2);
    assert_eq!(status["peers"][0]["up"], false, "peer 2 never ran");
    assert_eq!(status["protocol"]["incarnation"], 1);

    let caps: serde_json::Value = reqwest::get(format!("{}/api/v1/capabilities", node.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(caps["protocol_id"], 1);
    assert_eq!(caps["envelope_version"], skein_core::envelope::VERSION);

    let openapi: serde_json::Value = reqwest::get(format!("{}/openapi.json", node.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/api/v1/status", "/api/v1/capabilities", "/api/v1/request"] {
        assert!(openapi["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    let docs = reqwest::get(format!("{}/docs/", node.api)).await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "/docs is not the Swagger UI"
    );

    let metrics = reqwest::get(&node.metrics)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"skein_node_info{id="1",service="heartbeat""#),
        "{metrics}"
    );
    assert!(metrics.contains("skein_uptime_seconds"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_get_replies_or_documented_json_errors() {
    let node = start(22_010).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/request", node.api);
    let ok: serde_json::Value = http
        .post(&url)
        .json(&serde_json::json!({"Echo": {"text": "hi"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["reply"]["Echo"]["text"], "hi");

    let cases: [(reqwest::RequestBuilder, u16, &str); 4] = [
        (
            http.post(&url).json(&serde_json::json!({"Nope": 1})),
            400,
            "bad_request",
        ),
        (
            http.post(&url)
                .body("not json")
                .header("content-type", "application/json"),
            400,
            "bad_json",
        ),
        (
            http.post(&url)
                .body(vec![b' '; 100_000])
                .header("content-type", "application/json"),
            413,
            "too_large",
        ),
        (
            http.get(format!("{}/no/such/path", node.api)),
            404,
            "not_found",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}
