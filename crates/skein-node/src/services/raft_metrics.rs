//! etcd-style Raft metrics, sampled from the core's status.
//!
//! Published by [`super::sampler`] from the core's status. Leader changes
//! are counted between samples, so two changes within one interval count as
//! at most one.

use crate::service_api::CoreHandle;
use serde_json::Value;

/// What the sampler remembers between samples.
#[derive(Default)]
pub struct LeaderChanges {
    leader: Option<u64>,
    seen: u64,
}

pub fn spawn_sampler(core: CoreHandle) {
    super::sampler::spawn(core, |core, status, memory: &mut LeaderChanges| {
        let now = status["leader"].as_u64();
        if now.is_some() && now != memory.leader {
            memory.seen += 1;
        }
        memory.leader = now.or(memory.leader);
        publish(core, status, memory.seen);
    });
}

fn publish(core: &CoreHandle, status: &Value, leader_changes: u64) {
    let out = &core.metrics().service;
    let number = |field: &str| status[field].as_u64().map_or(0, |v| v as i64);
    out.set_gauge("skein_raft_term", "The current Raft term", number("term"));
    out.set_gauge(
        "skein_raft_has_leader",
        "1 if this node knows a leader",
        i64::from(status["leader"].is_u64()),
    );
    out.set_gauge(
        "skein_raft_is_leader",
        "1 if this node is the leader",
        i64::from(status["role"] == "Leader"),
    );
    out.set_counter(
        "skein_raft_leader_changes_seen",
        "Leader changes this node has seen (sampled every 250 ms)",
        leader_changes,
    );
    // As etcd: the committed and applied indexes, named as counters.
    out.set_gauge(
        "skein_raft_proposals_committed_total",
        "The commit index",
        number("commit_index"),
    );
    out.set_gauge(
        "skein_raft_proposals_applied_total",
        "The applied index",
        number("applied_index"),
    );
    out.set_gauge(
        "skein_raft_proposals_pending",
        "Client writes proposed and not yet applied (leader only)",
        number("pending_proposals"),
    );
    out.set_gauge(
        "skein_raft_durable_index",
        "The last log index confirmed durable (fsynced) on this node",
        number("durable_index"),
    );
    out.set_gauge(
        "skein_raft_snapshot_index",
        "The last log index covered by this node's snapshot",
        number("snapshot_index"),
    );
}
