//! Two nodes' real channels on loopback: heartbeats cross both TCP and UDP,
//! and a node that restarts is reconnected to.

use skein_core::heartbeat::Heartbeat;
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::path::Path;
use std::time::Duration;

fn settings(id: u16, bases: PortBases, data: &Path) -> NodeSettings {
    let overrides = NodeOverrides {
        id: Some(id),
        peers: Some(vec!["1".into(), "2".into()]),
        data_dir: Some(data.join(id.to_string())),
        peer_timeout_ms: Some(600),
        ..NodeOverrides::on_ports(bases)
    };
    NodeSettings::resolve(overrides, Default::default()).unwrap()
}

async fn received(metrics_url: &str, channel: &str) -> u64 {
    let Ok(response) = reqwest::get(metrics_url).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| {
            l.starts_with("skein_messages_received_total")
                && l.contains(&format!("channel=\"{channel}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 10 s: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beats_cross_both_channels_and_survive_a_restart() {
    let bases = PortBases::shifted(22_100).unwrap();
    let data = tempfile::tempdir().unwrap();
    let one = CancellationToken::new();
    let two = CancellationToken::new();
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings(1, bases, data.path()),
        one.clone(),
    ));
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings(2, bases, data.path()),
        two.clone(),
    ));
    let metrics_1 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 1);
    wait_for("node 1 hears node 2 over TCP and UDP", async || {
        received(&metrics_1, "tcp").await >= 3 && received(&metrics_1, "udp").await >= 3
    })
    .await;

    // Stop node 2 and start it again on the same ports and data.
    two.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = (
        received(&metrics_1, "tcp").await,
        received(&metrics_1, "udp").await,
    );
    let two = CancellationToken::new();
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings(2, bases, data.path()),
        two.clone(),
    ));
    wait_for(
        "node 1 hears the restarted node 2 on both channels",
        async || {
            received(&metrics_1, "tcp").await >= before.0 + 3
                && received(&metrics_1, "udp").await >= before.1 + 3
        },
    )
    .await;
    one.cancel();
    two.cancel();
}
