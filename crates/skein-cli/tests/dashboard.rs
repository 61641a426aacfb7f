//! The dashboard on real processes: the page and its assets with their
//! content types, the JSON config, the bounded proxy, the launcher's
//! process actions, cut links, the page every node serves at `/`, and
//! `cluster down` stopping a detached cluster's dashboard.
//!
//! Port offsets 17000–17090 (dashboards on 25000–25090).

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
