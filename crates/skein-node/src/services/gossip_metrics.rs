//! Gossip metrics, sampled from the core's status by [`super::sampler`]:
//! messages sent and received by type, duplicates, peers by state,
//! signature rejects and the other counted refusals.

use crate::service_api::CoreHandle;
use serde_json::Value;

/// (kind, sent metric, received metric) for every message type.
const KINDS: [(&str, &str, &str); 14] = [
    (
        "join",
        "skein_gossip_sent_join",
        "skein_gossip_received_join",
    ),
    (
        "welcome",
        "skein_gossip_sent_welcome",
        "skein_gossip_received_welcome",
    ),
    (
        "refused",
        "skein_gossip_sent_refused",
        "skein_gossip_received_refused",
    ),
    (
        "sync",
        "skein_gossip_sent_sync",
        "skein_gossip_received_sync",
    ),
    (
        "ping",
        "skein_gossip_sent_ping",
        "skein_gossip_received_ping",
    ),
    ("ack", "skein_gossip_sent_ack", "skein_gossip_received_ack"),
    (
        "ping_req",
        "skein_gossip_sent_ping_req",
        "skein_gossip_received_ping_req",
    ),
    (
        "indirect_ack",
        "skein_gossip_sent_indirect_ack",
        "skein_gossip_received_indirect_ack",
    ),
    (
        "gossip",
        "skein_gossip_sent_gossip",
        "skein_gossip_received_gossip",
    ),
    (
        "ihave",
        "skein_gossip_sent_ihave",
        "skein_gossip_received_ihave",
    ),
    (
        "graft",
        "skein_gossip_sent_graft",
        "skein_gossip_received_graft",
    ),
    (
        "prune",
        "skein_gossip_sent_prune",
        "skein_gossip_received_prune",
    ),
    (
        "delivered",
        "skein_gossip_sent_delivered",
        "skein_gossip_received_delivered",
    ),
    (
        "offer",
        "skein_gossip_sent_offer",
        "skein_gossip_received_offer",
    ),
];

const STATES: [(&str, &str); 4] = [
    ("alive", "skein_gossip_peers_alive"),
    ("suspect", "skein_gossip_peers_suspect"),
    ("dead", "skein_gossip_peers_dead"),
    ("left", "skein_gossip_peers_left"),
];

const COUNTERS: [(&str, &str, &str); 13] = [
    (
        "duplicates",
        "skein_gossip_duplicates",
        "Broadcast copies received after the first",
    ),
    (
        "stale_rejects",
        "skein_gossip_stale_rejects",
        "Copies of broadcasts delivered and since forgotten by the seen-cache, refused by their origin's floor",
    ),
    (
        "signature_rejects",
        "skein_gossip_signature_rejects",
        "Messages or updates dropped for a bad or missing signature",
    ),
    (
        "identity_conflicts",
        "skein_gossip_identity_conflicts",
        "Claims of a node id by a key it is not bound to",
    ),
    (
        "incompatible_versions",
        "skein_gossip_incompatible_versions",
        "Peers refused for another protocol version",
    ),
    (
        "joins_admitted",
        "skein_gossip_joins_admitted",
        "Joins this node admitted",
    ),
    (
        "joins_refused",
        "skein_gossip_joins_refused",
        "Joins refused (by or of this node)",
    ),
    (
        "joins_rate_limited",
        "skein_gossip_joins_rate_limited",
        "Joins refused by the rate limit",
    ),
    (
        "over_limit_messages",
        "skein_gossip_over_limit_messages",
        "Messages dropped for exceeding a size limit",
    ),
    (
        "suspicions_raised",
        "skein_gossip_suspicions_raised",
        "Peers this node suspected after a failed probe",
    ),
    (
        "refutations",
        "skein_gossip_refutations",
        "Suspicions of this node it refuted with a higher incarnation",
    ),
    (
        "grafts_sent",
        "skein_gossip_grafts_sent",
        "GRAFT requests sent for announced or offered messages",
    ),
    (
        "tree_shortcuts",
        "skein_gossip_tree_shortcuts",
        "Eager parents swapped for a much shorter path",
    ),
];

pub fn spawn_sampler(core: CoreHandle) {
    super::sampler::spawn(core, |core, status, _: &mut ()| publish(core, status));
}

fn publish(core: &CoreHandle, status: &Value) {
    let out = &core.metrics().service;
    let count = |section: &str, key: &str| status[section][key].as_u64().unwrap_or(0);
    for (kind, sent, received) in KINDS {
        out.set_counter(sent, "Gossip messages sent, by type", count("sent", kind));
        out.set_counter(
            received,
            "Gossip messages received, by type",
            count("received", kind),
        );
    }
    for (state, name) in STATES {
        out.set_gauge(
            name,
            "Members this node holds in this state",
            count("members", state) as i64,
        );
    }
    for (field, name, help) in COUNTERS {
        out.set_counter(name, help, count("counters", field));
    }
    out.set_counter(
        "skein_gossip_delivered",
        "Messages delivered to the application",
        status["delivered"].as_u64().unwrap_or(0),
    );
    out.set_gauge(
        "skein_gossip_eager_peers",
        "Plumtree eager-push peers",
        status["eager_peers"]
            .as_array()
            .map_or(0, |a| a.len() as i64),
    );
    out.set_gauge(
        "skein_gossip_incarnation",
        "This node's SWIM incarnation",
        status["incarnation"].as_i64().unwrap_or(0),
    );
}

#[cfg(test)]
mod tests {
    use super::COUNTERS;

    /// Every counter the core keeps has a metric (and no metric reads a
    /// counter the core does not keep).
    #[test]
    fn every_core_counter_is_exported() {
        let status = serde_json::to_value(skein_gossip::api::Counters::default()).unwrap();
        let mut kept: Vec<&str> = status
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut exported: Vec<&str> = COUNTERS.iter().map(|(field, _, _)| *field).collect();
        kept.sort_unstable();
        exported.sort_unstable();
        assert_eq!(exported, kept);
    }
}
