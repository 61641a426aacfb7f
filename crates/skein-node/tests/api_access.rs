//! The REST API's access rules on a real node: a bearer token guards every
//! state-changing request and reads stay open; a client that writes faster
//! than `--api-write-rate` gets 429 with Retry-After while reads go on.
//!
//! Port offset 23_700 belongs to this file.

use skein_core::heartbeat::Heartbeat;
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::time::Duration;

const TOKEN: &str = "a-token-of-enough-length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_writes_and_a_fast_writer_is_limited() {
    let bases = PortBases::shifted(23_700).unwrap();
    let data = tempfile::tempdir().unwrap();
    let overrides = NodeOverrides {
        id: Some(1),
        peers: Some(vec!["2".into()]),
        data_dir: Some(data.path().to_path_buf()),
        request_timeout_ms: Some(1000),
        api_token: Some(TOKEN.into()),
        api_write_rate: Some(2),
        ..NodeOverrides::on_ports(bases)
    };
    let settings = NodeSettings::resolve(overrides, Default::default()).unwrap();
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    tokio::spawn(skein_node::run_node::<Heartbeat>(settings, shutdown));
    let api = format!("http://127.0.0.1:{}", bases.api + 1);
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if http
            .get(format!("{api}/api/v1/status"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "node did not start");

    let echo = serde_json::json!({"Echo": {"text": "hi"}});
    let post = |token: Option<&str>| {
        let mut request = http.post(format!("{api}/api/v1/request")).json(&echo);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = post(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized", "{body}");
    assert_eq!(
        post(Some("a-wrong-token-of-length"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Reads need no token.
    let status = http
        .get(format!("{api}/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);

    // The bucket holds 2; the token is checked first, so refusals took none.
    let mut codes = Vec::new();
    for _ in 0..12 {
        let response = post(Some(TOKEN)).await.unwrap();
        if response.status() == 429 {
            let retry = response.headers().get("retry-after").cloned();
            assert!(retry.is_some(), "429 without Retry-After");
        }
        codes.push(response.status().as_u16());
    }
    let ok = codes.iter().filter(|&&c| c == 200).count();
    let limited = codes.iter().filter(|&&c| c == 429).count();
    assert!(ok >= 2 && limited >= 1 && ok + limited == 12, "{codes:?}");
    // Reads are not limited.
    for _ in 0..20 {
        let status = http
            .get(format!("{api}/api/v1/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(status.status(), 200);
    }
}
