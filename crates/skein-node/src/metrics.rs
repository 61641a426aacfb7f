//! Prometheus metrics of one node, served on `3000 + id` at `/metrics`.
//!
//! Names follow Prometheus conventions; counters gain `_total` when encoded.

use crate::message_metrics::MessageKinds;
use crate::service_histograms::ServiceHistograms;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use skein_core::{Channel, NodeId};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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
pub struct DirectionLabel {
    pub direction: String,
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
    pub peer_rejected: Family<ReasonLabel, Counter>,
    pub peer_up: Family<PeerLabel, Gauge>,
    pub peer_changes: Family<OutcomeLabel, Counter>,
    pub send_unknown_peer: Counter,
    pub requests: Family<OutcomeLabel, Counter>,
    pub persisted_bytes: Counter,
    /// Each fsync of the record log, as etcd's `etcd_disk_wal_fsync_duration_seconds`.
    pub wal_fsync_seconds: Histogram,
    /// Each `Replace` of the record log made durable: how long a snapshot takes to save.
    pub snapshot_seconds: Histogram,
    pub uptime_seconds: Gauge,
    /// How long answered client requests took, from the API's call to the core's reply.
    pub request_duration: Histogram,
    /// Frames dropped because fault injection cut the link, by direction (in, out).
    pub partition_dropped: Family<DirectionLabel, Counter>,
    /// Metrics a service publishes under its own names once it runs.
    pub service: ServiceSamples,
    /// Latency histograms a service names itself.
    pub service_histograms: ServiceHistograms,
    /// Protocol traffic by message kind.
    pub kinds: MessageKinds,
}

/// One value a service publishes, e.g. `skein_raft_term`.
#[derive(Clone, Copy, Debug)]
struct Sample {
    help: &'static str,
    value: i64,
    counter: bool,
}

/// Metrics named by the service rather than the runtime (the registry is
/// fixed when the node starts, so these are encoded on each scrape). Bounded:
/// one entry per distinct `&'static str` name in the service's code.
#[derive(Clone, Debug, Default)]
pub struct ServiceSamples(Arc<Mutex<BTreeMap<&'static str, Sample>>>);

impl ServiceSamples {
    pub fn set_gauge(&self, name: &'static str, help: &'static str, value: i64) {
        self.set(
            name,
            Sample {
                help,
                value,
                counter: false,
            },
        );
    }

    /// `name` without `_total`: the encoder appends it, as for every counter.
    pub fn set_counter(&self, name: &'static str, help: &'static str, value: u64) {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        self.set(
            name,
            Sample {
                help,
                value,
                counter: true,
            },
        );
    }

    fn set(&self, name: &'static str, sample: Sample) {
        self.0.lock().expect("not poisoned").insert(name, sample);
    }
}

impl Collector for ServiceSamples {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = self.0.lock().expect("not poisoned").clone();
        for (name, sample) in samples {
            if sample.counter {
                let metric = ConstCounter::new(sample.value as u64);
                metric.encode(encoder.encode_descriptor(
                    name,
                    sample.help,
                    None,
                    metric.metric_type(),
                )?)?;
            } else {
                let metric = ConstGauge::new(sample.value);
                metric.encode(encoder.encode_descriptor(
                    name,
                    sample.help,
                    None,
                    metric.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
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
            peer_rejected: Family::default(),
            peer_changes: Family::default(),
            send_unknown_peer: Counter::default(),
            peer_up: Family::default(),
            requests: Family::default(),
            persisted_bytes: Counter::default(),
            // etcd's buckets: 1 ms to 8 s, doubling.
            wal_fsync_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            snapshot_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            uptime_seconds: Gauge::default(),
            partition_dropped: Family::default(),
            // 0.5 ms to about 16 s, doubling.
            request_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            service: ServiceSamples::default(),
            service_histograms: ServiceHistograms::default(),
            kinds: MessageKinds::default(),
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
            "Inbound frames refused for what they are (malformed, oversized, misrouted) or local overload, by reason",
            metrics.frames_rejected.clone(),
        );
        registry.register(
            "skein_peer_rejected",
            "Inbound frames refused because their sender is not an authenticated member (bad or missing MAC, unknown or inconsistent sender), by reason",
            metrics.peer_rejected.clone(),
        );
        registry.register(
            "skein_peer_changes",
            "Peer set changes asked for by the protocol, by outcome (added, replaced, unchanged, removed, or why refused: bad_address, id_mismatch, peers_full, self, no_pair_key)",
            metrics.peer_changes.clone(),
        );
        registry.register(
            "skein_send_unknown_peer",
            "Messages the protocol sent to an id outside the current peer set, dropped",
            metrics.send_unknown_peer.clone(),
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
            "skein_wal_fsync_duration_seconds",
            "Latency of each fsync of the node's record log (write-ahead log)",
            metrics.wal_fsync_seconds.clone(),
        );
        registry.register(
            format!("skein_{service}_snapshot_duration_seconds"),
            "Time to make a snapshot durable: write, fsync and atomic rename of the replacing log, directory fsync",
            metrics.snapshot_seconds.clone(),
        );
        registry.register(
            "skein_uptime_seconds",
            "Seconds since the node started",
            metrics.uptime_seconds.clone(),
        );
        registry.register(
            "skein_request_duration_seconds",
            "Time from a client request reaching the API to the service's reply (answered requests only)",
            metrics.request_duration.clone(),
        );
        registry.register(
            "skein_partition_dropped",
            "Protocol frames dropped because fault injection cut the link to that peer, by direction (in, out)",
            metrics.partition_dropped.clone(),
        );
        registry.register_collector(Box::new(metrics.service.clone()));
        registry.register_collector(Box::new(metrics.service_histograms.clone()));
        metrics.kinds.register(&mut registry);
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// Counts one durable write of the record log.
    pub fn wrote(&self, report: &crate::storage::WriteReport) {
        self.persisted_bytes.inc_by(report.bytes as u64);
        for fsync in &report.fsyncs {
            self.wal_fsync_seconds.observe(fsync.as_secs_f64());
        }
        for replace in &report.replaces {
            self.snapshot_seconds.observe(replace.as_secs_f64());
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

    pub fn sent_kind(&self, kind: &'static str, bytes: usize, copies: usize) {
        self.kinds.sent(kind, bytes, copies);
    }

    pub fn received_kind(&self, kind: &'static str, bytes: usize) {
        self.kinds.received(kind, bytes);
    }

    pub fn dropped(&self, peer: NodeId, channel: Channel) {
        self.send_dropped
            .get_or_create(&peer_channel(peer, channel))
            .inc();
    }

    /// Counts a refused inbound frame: in `skein_peer_rejected_total` when
    /// the reason is about who sent it ([`PEER_REJECT_REASONS`]), else in
    /// `skein_frames_rejected_total`. The two are disjoint, so their sum is
    /// every refused frame.
    pub fn rejected(&self, reason: &str) {
        let family = if PEER_REJECT_REASONS.contains(&reason) {
            &self.peer_rejected
        } else {
            &self.frames_rejected
        };
        family
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    pub fn partition_dropped(&self, direction: &str) {
        self.partition_dropped
            .get_or_create(&DirectionLabel {
                direction: direction.to_string(),
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

    pub fn peer_change(&self, outcome: &str) {
        self.peer_changes
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Stops reporting a removed peer's liveness.
    pub fn forget_peer(&self, peer: NodeId) {
        self.peer_up.remove(&PeerLabel {
            peer: peer.to_string(),
        });
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

/// Reasons that say the sender is not an authenticated member (or did not
/// say who it is): counted in `skein_peer_rejected_total{reason}`.
pub const PEER_REJECT_REASONS: [&str; 8] = [
    "bad_mac",
    "missing_mac",
    "unexpected_mac",
    "unknown_sender",
    "sender_mismatch",
    "no_hello",
    "hello_timeout",
    // A connection closed at once: too many others have not said hello yet.
    "unauthenticated_connections",
];

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

    #[test]
    fn peer_rejections_are_counted_apart_from_malformed_frames() {
        let m = NodeMetrics::new(NodeId(1), "heartbeat");
        m.rejected("bad_mac");
        m.rejected("bad_checksum");
        let text = m.encode();
        assert!(
            text.contains(r#"skein_peer_rejected_total{reason="bad_mac"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"skein_frames_rejected_total{reason="bad_checksum"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"skein_frames_rejected_total{reason="bad_mac"}"#));
    }

    #[test]
    fn services_publish_their_own_names() {
        let m = NodeMetrics::new(NodeId(1), "raft");
        m.service.set_gauge("skein_raft_term", "term", 3);
        m.service.set_gauge("skein_raft_term", "term", 4);
        m.service
            .set_counter("skein_raft_leader_changes_seen", "changes", 2);
        let text = m.encode();
        assert!(
            text.contains("# TYPE skein_raft_term gauge\nskein_raft_term 4\n"),
            "{text}"
        );
        assert!(
            text.contains("skein_raft_leader_changes_seen_total 2"),
            "{text}"
        );
    }
}
