//! `--peers-dns` end to end on loopback: node 1 knows only that the
//! members are ids 1 and 2 (`cluster_size`) and a DNS name; it resolves
//! `localhost`, reads node 2's identity line there, and from then on the two
//! nodes hear each other. (Node 1 binds 127.0.0.2 so that its own identity
//! port does not clash with node 2's on 127.0.0.1.)
//!
//! Ports 19600–19660 on 127.0.0.1 and 127.0.0.2.

use skein_core::heartbeat::Heartbeat;
use skein_core::NodeId;
use skein_node::discovery::{identity_of, serve_identity};
use skein_node::{run_node, CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::time::{Duration, Instant};

const BASES: PortBases = PortBases {
    metrics: 19600,
    api: 19610,
    stream: 19620,
    datagram: 19630,
};
const IDENTITY_PORT: u16 = 19650;

fn settings(overrides: NodeOverrides, data: &std::path::Path) -> NodeSettings {
    let overrides = NodeOverrides {
        service: Some("heartbeat".into()),
        data_dir: Some(data.join(overrides.id.unwrap().to_string())),
        peer_timeout_ms: Some(1000),
        ..overrides
    };
    NodeSettings::resolve(overrides, Default::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_found_by_dns_is_dialed_and_heard() {
    let data = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let node2 = settings(
        NodeOverrides {
            id: Some(2),
            peers: Some(vec!["1@127.0.0.2".into()]),
            ..NodeOverrides::on_ports(BASES)
        },
        data.path(),
    );
    // Node 2 runs without --peers-dns; its identity is served beside it, as
    // its own listener would.
    let identity = tokio::net::TcpListener::bind(("127.0.0.1", IDENTITY_PORT))
        .await
        .unwrap();
    tokio::spawn(serve_identity(
        identity,
        identity_of("heartbeat", NodeId(2), BASES),
        shutdown.clone(),
    ));
    let node1 = settings(
        NodeOverrides {
            id: Some(1),
            bind: Some("127.0.0.2".into()),
            peers_dns: Some(format!("localhost:{IDENTITY_PORT}")),
            peers_dns_interval_ms: Some(200),
            cluster_size: Some(2),
            ..NodeOverrides::on_ports(BASES)
        },
        data.path(),
    );
    assert!(node1.peers.is_empty(), "node 1 starts knowing no address");
    assert_eq!(node1.members(), [NodeId(1), NodeId(2)]);
    let runs = [
        tokio::spawn(run_node::<Heartbeat>(node1, shutdown.clone())),
        tokio::spawn(run_node::<Heartbeat>(node2, shutdown.clone())),
    ];

    let status_url = format!("http://127.0.0.2:{}/api/v1/status", BASES.api + 1);
    let within = Duration::from_secs(20);
    let started = Instant::now();
    let peer = loop {
        let status: Option<serde_json::Value> = match reqwest::get(&status_url).await {
            Ok(response) => response.json().await.ok(),
            Err(_) => None,
        };
        let peer = status.and_then(|s| s["peers"].as_array()?.first().cloned());
        if peer.as_ref().is_some_and(|p| p["up"] == true) {
            break peer.unwrap();
        }
        assert!(
            started.elapsed() < within,
            "node 1 did not hear node 2 within {within:?}: {peer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("node 1 heard node 2 after {:?}", started.elapsed());
    assert_eq!(peer["id"], 2);
    assert_eq!(
        peer["address"],
        format!("127.0.0.1:{}", BASES.stream + 2),
        "the address DNS gave"
    );
    shutdown.cancel();
    for run in runs {
        run.await.unwrap().unwrap();
    }
}
