//! Prometheus metrics of one node, served on `3000 + id` at `/metrics`.
//!
//! Names follow Prometheus conventions; counters gain `_total` when encoded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use skein_core::{Channel, NodeId};
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerChannel {
    pub peer: String,
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    pub peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeInfoLabels {
    pub id: String,
    pub service: String,
    pub version: String,
}

/// Every metric the runtime updates. Cheap to clone: families share storage.
#[derive(Clone)]
pub struct NodeMetrics {
    registry: Arc<Registry>,
    pub messages_sent: Family<PeerChannel, Counter>,
    pub messages_received: Family<PeerChannel, Counter>,
    pub send_dropped: Family<PeerChannel, Counter>,
    pub frames_rejected: Family<ReasonLabel, Counter>,
    pub peer_up: Family<PeerLabel, Gauge>,
    pub requests: Family<OutcomeLabel, Counter>,
    pub persisted_bytes: Counter,
    pub uptime_seconds: Gauge,
}

pub fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Stream => "tcp",
        Channel::Datagram => "udp",
    }
}

impl NodeMetrics {
    pub fn new(id: NodeId, service: &str) -> Self {
        let mut registry = Registry::default();
        let info = Info::new(NodeInfoLabels {
            id: id.to_string(),
            service: service.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        });
        registry.register(
            "skein_node",
            "Which node, service and version this is",
            info,
        );
        let metrics = Self {
            messages_sent: Family::default(),
            messages_received: Family::default(),
            send_dropped: Family::default(),
            frames_rejected: Family::default(),
            peer_up: Family::default(),
            requests: Family::default(),
            persisted_bytes: Counter::default(),
            uptime_seconds: Gauge::default(),
            registry: Arc::new(Registry::default()),
        };
        registry.register(
            "skein_messages_sent",
            "Protocol messages handed to a peer's channel",
            metrics.messages_sent.clone(),
        );
        registry.register(
            "skein_messages_received",
            "Protocol messages received from a peer",
            metrics.messages_received.clone(),
        );
        registry.register(
            "skein_send_dropped",
            "Messages dropped because a peer's bounded send queue was full (oldest first)",
            metrics.send_dropped.clone(),
        );
        registry.register(
            "skein_frames_rejected",
            "Inbound frames refused, by reason",
            metrics.frames_rejected.clone(),
        );
        registry.register(
            "skein_peer_up",
            "1 if the peer was heard from within the peer timeout",
            metrics.peer_up.clone(),
        );
        registry.register(
            "skein_requests",
            "Client requests by outcome",
            metrics.requests.clone(),
        );
        registry.register(
            "skein_persisted_bytes",
            "Bytes written durably to the node's log",
            metrics.persisted_bytes.clone(),
        );
        registry.register(
            "skein_uptime_seconds",
            "Seconds since the node started",
            metrics.uptime_seconds.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    pub fn sent(&self, peer: NodeId, channel: Channel) {
        self.messages_sent
            .get_or_create(&peer_channel(peer, channel))
            .inc();
    }

    pub fn received(&self, peer: NodeId, channel: Channel) {
        self.messages_received
            .get_or_create(&peer_channel(peer, channel))
            .inc();
    }

    pub fn dropped(&self, peer: NodeId, channel: Channel) {
        self.send_dropped
            .get_or_create(&peer_channel(peer, channel))
            .inc();
    }

    pub fn rejected(&self, reason: &str) {
        self.frames_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn request(&self, outcome: &str) {
        self.requests
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn set_peer_up(&self, peer: NodeId, up: bool) {
        self.peer_up
            .get_or_create(&PeerLabel {
                peer: peer.to_string(),
            })
            .set(i64::from(up));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

fn peer_channel(peer: NodeId, channel: Channel) -> PeerChannel {
    PeerChannel {
        peer: peer.to_string(),
        channel: channel_label(channel).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_prometheus_style_names() {
        let m = NodeMetrics::new(NodeId(2), "heartbeat");
        m.sent(NodeId(1), Channel::Stream);
        m.set_peer_up(NodeId(1), true);
        let text = m.encode();
        assert!(
            text.contains(r#"skein_messages_sent_total{peer="1",channel="tcp"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"skein_peer_up{peer="1"} 1"#), "{text}");
        assert!(
            text.contains(r#"skein_node_info{id="2",service="heartbeat",version="#),
            "{text}"
        );
    }
}
