//! Authenticated peer channels on loopback: two nodes that share the cluster
//! secret talk over TCP and UDP, while an outsider without the secret, or with
//! a wrong one, gets none of its frames accepted, even when it claims a
//! member's id: its frames are refused and counted in
//! `skein_peer_rejected_total{reason}`, its TCP connections are closed, and no
//! message of its reaches the core.

use skein_core::codec;
use skein_core::heartbeat::{Heartbeat, HeartbeatMessage};
use skein_core::mac::{ClusterSecret, PairKey};
use skein_core::sslink::LinkData;
use skein_core::{Frame, FrameKind, NodeId, Protocol};
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const SECRET: &str = "a shared secret for this test only";

fn settings(id: u16, bases: PortBases, data: &Path, secret: Option<&str>) -> NodeSettings {
    let overrides = NodeOverrides {
        id: Some(id),
        // Node 3 is a member that never starts: the outsider claims its id.
        peers: Some(vec!["1".into(), "2".into(), "3".into()]),
        data_dir: Some(data.join(id.to_string())),
        peer_timeout_ms: Some(600),
        cluster_secret: secret.map(str::to_string),
        ..NodeOverrides::on_ports(bases)
    };
    NodeSettings::resolve(overrides, Default::default()).unwrap()
}

async fn metric_sum(url: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    let Ok(response) = reqwest::get(url).await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn received(url: &str, peer: &str, channel: &str) -> u64 {
    metric_sum(
        url,
        "skein_messages_received_total",
        &[("peer", peer), ("channel", channel)],
    )
    .await
}

async fn peer_rejected(url: &str, reason: &str) -> u64 {
    metric_sum(url, "skein_peer_rejected_total", &[("reason", reason)]).await
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

/// A frame from `sender` to node 1, tagged with `key` if given.
fn frame(kind: FrameKind, sender: u16, payload: Vec<u8>, key: Option<&PairKey>) -> Vec<u8> {
    let frame = Frame {
        kind,
        sender: NodeId(sender),
        receiver: NodeId(1),
        protocol: Heartbeat::PROTOCOL_ID,
        payload,
    };
    match key {
        Some(key) => frame.encode_tagged(key),
        None => frame.encode(),
    }
}

fn beat() -> Vec<u8> {
    let message = HeartbeatMessage::Beat {
        incarnation: 1,
        seq: 1,
    };
    codec::encode(&message, 1024).unwrap()
}

fn link_data(payload: Vec<u8>) -> Vec<u8> {
    let data = LinkData {
        session: 7,
        counter: 1,
        payload,
    };
    codec::encode(&data, 2048).unwrap()
}

/// Connects to node 1's stream port, says hello and one beat as `sender`;
/// returns whether node 1 closed the connection.
async fn speak_over_tcp(port: u16, sender: u16, key: Option<&PairKey>) -> bool {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut bytes = frame(FrameKind::Hello, sender, vec![], key);
    bytes.extend(frame(FrameKind::Message, sender, beat(), key));
    socket.write_all(&bytes).await.unwrap();
    let mut buf = [0u8; 16];
    // Node 1 never writes on an inbound connection: a read returns only at close.
    matches!(
        tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_with_the_secret_talk_and_outsiders_are_refused() {
    let bases = PortBases::shifted(23_100).unwrap();
    let data = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    for id in [1, 2] {
        tokio::spawn(skein_node::run_node::<Heartbeat>(
            settings(id, bases, data.path(), Some(SECRET)),
            stop.clone(),
        ));
    }
    let metrics_1 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 1);
    let stream_1 = bases.stream + 1;
    wait_for(
        "node 1 hears node 2 over TCP and UDP, authenticated",
        async || {
            received(&metrics_1, "2", "tcp").await >= 3
                && received(&metrics_1, "2", "udp").await >= 3
        },
    )
    .await;

    let right = ClusterSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    let wrong = ClusterSecret::new(b"not the secret of this cluster".to_vec()).unwrap();
    let wrong_key = |sender| PairKey::derive(&wrong, NodeId(sender), NodeId(1));

    // TCP: no tag, a wrong secret's tag, and a wrong secret claiming a live member.
    assert!(
        speak_over_tcp(stream_1, 3, None).await,
        "untagged hello: closed"
    );
    assert!(speak_over_tcp(stream_1, 3, Some(&wrong_key(3))).await);
    assert!(speak_over_tcp(stream_1, 2, Some(&wrong_key(2))).await);
    // A right key for the wrong pair: node 3's key with node 2, claiming to be 2.
    let pair_2_3 = PairKey::derive(&right, NodeId(2), NodeId(3));
    assert!(speak_over_tcp(stream_1, 2, Some(&pair_2_3)).await);

    // UDP: the outsider listens on node 3's datagram port, where node 1 would ack.
    let outsider = UdpSocket::bind(("127.0.0.1", bases.datagram + 3))
        .await
        .unwrap();
    let node_1_udp = ("127.0.0.1", bases.datagram + 1);
    for key in [None, Some(wrong_key(3))] {
        let bytes = frame(FrameKind::LinkData, 3, link_data(beat()), key.as_ref());
        outsider.send_to(&bytes, node_1_udp).await.unwrap();
    }
    let spoofed_2 = frame(
        FrameKind::LinkData,
        2,
        link_data(beat()),
        Some(&wrong_key(2)),
    );
    outsider.send_to(&spoofed_2, node_1_udp).await.unwrap();

    wait_for("every forged frame is refused and counted", async || {
        peer_rejected(&metrics_1, "missing_mac").await >= 2
            && peer_rejected(&metrics_1, "bad_mac").await >= 5
    })
    .await;
    // Node 1 acknowledged none of them (it still sends node 3 its own beats).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout_at(deadline, outsider.recv_from(&mut buf)).await
    {
        let kind = buf[..len].get(5).map(|b| b & 0x7f);
        assert_ne!(
            kind,
            Some(FrameKind::LinkAck as u8),
            "a forged frame was acked"
        );
    }
    assert_eq!(
        received(&metrics_1, "3", "tcp").await,
        0,
        "nothing from 3 reached the core"
    );
    assert_eq!(received(&metrics_1, "3", "udp").await, 0);

    // Node 2 is still heard on both channels after the attack.
    let before = (
        received(&metrics_1, "2", "tcp").await,
        received(&metrics_1, "2", "udp").await,
    );
    wait_for("node 2 still talks to node 1", async || {
        received(&metrics_1, "2", "tcp").await > before.0
            && received(&metrics_1, "2", "udp").await > before.1
    })
    .await;

    // Control: the same frames, tagged with the right pair key, are accepted,
    // so the refusals above were the MAC's doing, not a malformed frame.
    let right_key = PairKey::derive(&right, NodeId(3), NodeId(1));
    let _ = speak_over_tcp(stream_1, 3, Some(&right_key)).await;
    let bytes = frame(FrameKind::LinkData, 3, link_data(beat()), Some(&right_key));
    outsider.send_to(&bytes, node_1_udp).await.unwrap();
    wait_for("frames with the right key are delivered", async || {
        received(&metrics_1, "3", "tcp").await >= 1 && received(&metrics_1, "3", "udp").await >= 1
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_disagree_on_authentication_refuse_each_other() {
    let bases = PortBases::shifted(23_200).unwrap();
    let data = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings(1, bases, data.path(), Some(SECRET)),
        stop.clone(),
    ));
    tokio::spawn(skein_node::run_node::<Heartbeat>(
        settings(2, bases, data.path(), None),
        stop.clone(),
    ));
    let metrics_1 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 1);
    let metrics_2 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 2);
    wait_for("both sides refuse the other's frames", async || {
        peer_rejected(&metrics_1, "missing_mac").await >= 2
            && peer_rejected(&metrics_2, "unexpected_mac").await >= 2
    })
    .await;
    assert_eq!(
        received(&metrics_1, "2", "tcp").await + received(&metrics_1, "2", "udp").await,
        0
    );
    assert_eq!(
        received(&metrics_2, "1", "tcp").await + received(&metrics_2, "1", "udp").await,
        0
    );
    stop.cancel();
}
