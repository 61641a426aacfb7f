//! bftlist metrics, sampled from the core's status by [`super::sampler`].
//!
//! View changes are counted between samples (every 250 ms), so two changes
//! within one interval count as one; the core's own counters (executed,
//! repairs, flushes, resets) are exact.

use crate::service_api::CoreHandle;
use serde_json::Value;

/// The view seen at the last sample and the changes counted so far.
#[derive(Default)]
pub struct ViewChanges {
    view: Option<u64>,
    seen: u64,
}

pub fn spawn_sampler(core: CoreHandle) {
    super::sampler::spawn(core, |core, status, memory: &mut ViewChanges| {
        observe(status, memory);
        publish(core, status, memory.seen);
    });
}

fn observe(status: &Value, memory: &mut ViewChanges) {
    let now = status["view"].as_u64();
    if let (Some(before), Some(now)) = (memory.view, now) {
        if before != now {
            memory.seen += 1;
        }
    }
    memory.view = now.or(memory.view);
}

fn publish(core: &CoreHandle, status: &Value, view_changes: u64) {
    let out = &core.metrics().service;
    let number = |value: &Value| value.as_i64().unwrap_or(-1);
    let count = |field: &str| status["counters"][field].as_u64().unwrap_or(0);
    out.set_gauge(
        "skein_bft_view",
        "The view this replica is in; -1 while no view is established",
        number(&status["view"]),
    );
    out.set_gauge(
        "skein_bft_primary",
        "The node id of the current view's primary; -1 if none",
        number(&status["primary"]),
    );
    out.set_gauge(
        "skein_bft_allow_service",
        "1 if view establishment allows service",
        i64::from(status["allow_service"] == true),
    );
    out.set_gauge(
        "skein_bft_last_executed",
        "Sequence number of the last executed request (-1: none)",
        number(&status["last_exec"]),
    );
    out.set_gauge(
        "skein_bft_list_length",
        "Entries in the executed list",
        number(&status["executed_len"]),
    );
    out.set_gauge(
        "skein_bft_pending_requests",
        "Client requests known and not yet executed",
        number(&status["pending"]),
    );
    out.set_counter(
        "skein_bft_view_changes_seen",
        "View changes this replica has seen (sampled every 250 ms)",
        view_changes,
    );
    out.set_counter(
        "skein_bft_executed",
        "Requests this replica executed",
        count("executed"),
    );
    out.set_counter(
        "skein_bft_repairs",
        "Corrupted values detected and repaired (self-stabilization)",
        count("repairs"),
    );
    out.set_counter(
        "skein_bft_flushes",
        "Stale replica states flushed",
        count("flushes"),
    );
    out.set_counter(
        "skein_bft_view_establishment_resets",
        "Resets of view establishment",
        count("ve_resets"),
    );
    out.set_counter(
        "skein_bft_view_change_demands",
        "View changes this replica demanded",
        count("view_change_demands"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::NodeMetrics;
    use crate::service_api::NodeFacts;
    use skein_core::NodeId;

    #[test]
    fn a_view_change_is_counted_and_the_status_published() {
        let mut memory = ViewChanges::default();
        for view in [0, 0, 1, 1, 2] {
            observe(&serde_json::json!({"view": view}), &mut memory);
        }
        observe(&serde_json::json!({"view": null}), &mut memory);
        assert_eq!((memory.seen, memory.view), (2, Some(2)));

        let metrics = NodeMetrics::new(NodeId(2), "bftlist");
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let facts = NodeFacts {
            id: NodeId(2),
            members: vec![],
            allow_fault_injection: false,
            api_base: 4000,
            port_bases: Default::default(),
            peer_hosts: Default::default(),
        };
        let core = CoreHandle::new(
            tx,
            std::time::Duration::from_secs(1),
            metrics.clone(),
            facts,
        );
        let status = serde_json::json!({
            "view": 1, "primary": 2, "allow_service": true, "last_exec": 7, "executed_len": 6, "pending": 1,
            "counters": {"executed": 8, "repairs": 3, "flushes": 1, "ve_resets": 0, "view_change_demands": 1}
        });
        publish(&core, &status, memory.seen);
        let text = metrics.encode();
        for line in [
            "skein_bft_view 1",
            "skein_bft_primary 2",
            "skein_bft_allow_service 1",
            "skein_bft_last_executed 7",
            "skein_bft_view_changes_seen_total 2",
            "skein_bft_executed_total 8",
            "skein_bft_repairs_total 3",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        publish(
            &core,
            &serde_json::json!({"view": null, "primary": null}),
            2,
        );
        assert!(
            metrics.encode().contains("skein_bft_view -1"),
            "no view reads -1"
        );
    }
}
