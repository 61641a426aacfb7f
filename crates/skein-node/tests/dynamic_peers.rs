//! Dynamic peers on loopback, with authenticated channels: node 1 starts
//! with no peers; node 2 knows node 1 and introduces itself with its own
//! address (`Boot::address`). Node 1 admits the stranger (its MAC, keyed
//! from the cluster secret, vouches for it), adds it as a peer, and from
//! then on node 1's broadcasts reach node 2 over TCP and UDP. When node 1
//! removes node 2, node 2 stops hearing it on both channels.

use serde::{Deserialize, Serialize};
use skein_core::{Boot, Channel, Context, Input, NodeId, PeerAddress, Protocol};
use skein_node::{CancellationToken, NodeOverrides, NodeSettings, PortBases};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const SECRET: &str = "a shared secret for the dynamic peers test";
/// The node everyone introduces itself to.
const INTRODUCER: NodeId = NodeId(1);

#[derive(Clone, Debug, Serialize, Deserialize)]
enum IntroMessage {
    Introduce { address: PeerAddress },
    Beat,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum IntroRequest {
    Remove { id: u16 },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum IntroReply {
    Removed,
}

/// Introduces itself to node 1 on every tick (node 1 adds it, idempotently)
/// and broadcasts a beat on both channels to whatever peers its driver has.
struct Intro {
    id: NodeId,
    address: PeerAddress,
    knows_introducer: bool,
    /// Removed peers are not re-added by their next introduction.
    removed: BTreeSet<NodeId>,
}

impl Protocol for Intro {
    type Message = IntroMessage;
    type Request = IntroRequest;
    type Reply = IntroReply;
    type Config = ();
    type Status = ();
    const NAME: &'static str = "intro";
    const PROTOCOL_ID: u16 = 0x7e57;
    const VERSION: u16 = 1;

    fn boot(boot: Boot<'_, ()>) -> Self {
        Self {
            id: boot.id,
            address: boot.address.clone(),
            knows_introducer: boot.id != INTRODUCER && boot.members.contains(&INTRODUCER),
            removed: BTreeSet::new(),
        }
    }

    fn step(&mut self, ctx: &mut Context<'_, Self>, input: Input<Self>) {
        match input {
            Input::Tick => {
                if self.knows_introducer {
                    let address = self.address.clone();
                    ctx.send(INTRODUCER, IntroMessage::Introduce { address });
                }
                ctx.broadcast_via(Channel::Stream, IntroMessage::Beat);
                ctx.broadcast_via(Channel::Datagram, IntroMessage::Beat);
            }
            Input::Message {
                from,
                message: IntroMessage::Introduce { address },
            } if !self.removed.contains(&from) => {
                ctx.add_peer(from, address);
                // Refusals are counted, never fatal: a garbled address and
                // an address naming another id.
                ctx.add_peer(NodeId(3), PeerAddress("not an address".into()));
                ctx.add_peer(NodeId(4), PeerAddress("5@127.0.0.1:1:2".into()));
            }
            Input::Request {
                id,
                request: IntroRequest::Remove { id: peer },
            } => {
                self.removed.insert(NodeId(peer));
                ctx.remove_peer(NodeId(peer));
                ctx.reply(id, IntroReply::Removed);
            }
            _ => {}
        }
        debug_assert!(!self.removed.contains(&self.id));
    }

    fn tick_interval(&self) -> Duration {
        Duration::from_millis(50)
    }

    fn status(&self) {}
}

fn settings(id: u16, peers: &[&str], bases: PortBases, data: &Path) -> NodeSettings {
    let overrides = NodeOverrides {
        id: Some(id),
        service: Some("intro".into()),
        peers: Some(peers.iter().map(|p| p.to_string()).collect()),
        data_dir: Some(data.join(id.to_string())),
        peer_timeout_ms: Some(600),
        cluster_secret: Some(SECRET.into()),
        ..NodeOverrides::on_ports(bases)
    };
    NodeSettings::resolve(overrides, Default::default()).unwrap()
}

async fn metrics(url: &str) -> String {
    match reqwest::get(url).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn metric_sum(url: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    metrics(url)
        .await
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn heard_from_1(url: &str, channel: &str) -> u64 {
    metric_sum(
        url,
        "skein_messages_received_total",
        &[("peer", "1"), ("channel", channel)],
    )
    .await
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
async fn an_added_peer_hears_broadcasts_until_it_is_removed() {
    let bases = PortBases::shifted(23_500).unwrap();
    let data = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(skein_node::run_node::<Intro>(
        settings(1, &["1"], bases, data.path()),
        shutdown.clone(),
    ));
    tokio::spawn(skein_node::run_node::<Intro>(
        settings(2, &["1", "2"], bases, data.path()),
        shutdown.clone(),
    ));
    let metrics_1 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 1);
    let metrics_2 = format!("http://127.0.0.1:{}/metrics", bases.metrics + 2);

    wait_for(
        "node 2 hears node 1's broadcasts over TCP and UDP",
        async || {
            heard_from_1(&metrics_2, "tcp").await >= 3 && heard_from_1(&metrics_2, "udp").await >= 3
        },
    )
    .await;
    let changes = |outcome: &'static str| {
        let url = metrics_1.clone();
        async move { metric_sum(&url, "skein_peer_changes_total", &[("outcome", outcome)]).await }
    };
    assert_eq!(changes("added").await, 1, "node 2 was added once");
    assert!(changes("unchanged").await >= 1, "re-adding is idempotent");
    assert!(changes("bad_address").await >= 1);
    assert!(changes("id_mismatch").await >= 1);
    let text = metrics(&metrics_1).await;
    assert!(
        text.contains("skein_peer_up{peer=\"2\"}"),
        "the added peer is in the peer table"
    );
    assert!(!text.contains("skein_peer_up{peer=\"3\"}"));

    let api_1 = format!("http://127.0.0.1:{}/api/v1/request", bases.api + 1);
    let response = reqwest::Client::new()
        .post(&api_1)
        .json(&serde_json::json!({"Remove": {"id": 2}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    assert_eq!(changes("removed").await, 1);

    // Frames already on the wire may still land; after that, silence.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = (
        heard_from_1(&metrics_2, "tcp").await,
        heard_from_1(&metrics_2, "udp").await,
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let after = (
        heard_from_1(&metrics_2, "tcp").await,
        heard_from_1(&metrics_2, "udp").await,
    );
    assert_eq!(before, after, "node 2 no longer hears node 1 (tcp, udp)");
    assert!(
        !metrics(&metrics_1)
            .await
            .contains("skein_peer_up{peer=\"2\"}"),
        "the removed peer left the peer table"
    );
    shutdown.cancel();
}
