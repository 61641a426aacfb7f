//! Protocol traffic by message kind (`Protocol::message_kind`, e.g.
//! `rep.structure` or `ve.info`): how many messages and bytes a node sends
//! and receives of each. Per peer and channel counts live in
//! [`crate::metrics::NodeMetrics`]; these answer "which module costs what".

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// Bounded: one series per kind, and kinds are `&'static str` from the
/// protocol's code, never from the wire.
#[derive(Clone, Debug, Default)]
pub struct MessageKinds {
    sent: Family<KindLabel, Counter>,
    sent_bytes: Family<KindLabel, Counter>,
    received: Family<KindLabel, Counter>,
    received_bytes: Family<KindLabel, Counter>,
}

impl MessageKinds {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "skein_protocol_messages_sent",
            "Protocol messages sent, by kind (a broadcast counts once per peer)",
            self.sent.clone(),
        );
        registry.register(
            "skein_protocol_message_bytes_sent",
            "Encoded payload bytes sent, by message kind (before framing and MAC)",
            self.sent_bytes.clone(),
        );
        registry.register(
            "skein_protocol_messages_received",
            "Protocol messages received and decoded, by kind",
            self.received.clone(),
        );
        registry.register(
            "skein_protocol_message_bytes_received",
            "Encoded payload bytes received, by message kind",
            self.received_bytes.clone(),
        );
    }

    /// One message of `bytes` payload sent to `copies` peers.
    pub fn sent(&self, kind: &'static str, bytes: usize, copies: usize) {
        let label = KindLabel { kind };
        self.sent.get_or_create(&label).inc_by(copies as u64);
        self.sent_bytes
            .get_or_create(&label)
            .inc_by((bytes * copies) as u64);
    }

    pub fn received(&self, kind: &'static str, bytes: usize) {
        let label = KindLabel { kind };
        self.received.get_or_create(&label).inc();
        self.received_bytes
            .get_or_create(&label)
            .inc_by(bytes as u64);
    }
}
