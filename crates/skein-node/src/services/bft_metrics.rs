//! bftlist metrics, sampled from the core's status by [`super::sampler`].
//!
//! View changes are counted between samples (every 250 ms), so two changes
//! within one interval count as one; the core's own counters (executed,
//! repairs, flushes, resets) are exact.
//!
//! Convergence (`skein_bft_convergence_seconds`) runs from the first sample
//! at which this replica is unsettled — no established view, service not
//! allowed, a new view or a view-establishment reset — to the first sample
//! at which it serves in an established view again. Its resolution is the
//! sample interval: a change that starts and settles between two samples is
//! recorded as one interval, an upper bound.

use super::sampler::SAMPLE_INTERVAL;
use crate::service_api::CoreHandle;
use serde_json::Value;
use std::time::{Duration, Instant};

const CONVERGENCE: &str = "skein_bft_convergence_seconds";
const CONVERGENCE_HELP: &str = "Time from a view change or view-establishment reset (or a start without an established view) until this replica serves in an established view again; resolution 250 ms";

/// What the last samples showed: the view, the changes counted so far, and
/// since when this replica has been unsettled.
#[derive(Default)]
pub struct ViewChanges {
    view: Option<u64>,
    resets: Option<u64>,
    seen: u64,
    unsettled_since: Option<Instant>,
}

pub fn spawn_sampler(core: CoreHandle) {
    super::sampler::spawn(core, |core, status, memory: &mut ViewChanges| {
        if let Some(took) = observe(status, memory, Instant::now()) {
            core.metrics().service_histograms.observe_seconds(
                CONVERGENCE,
                CONVERGENCE_HELP,
                took.as_secs_f64(),
            );
        }
        publish(core, status, memory.seen);
    });
}

/// Updates `memory` with one sample taken `now`; returns how long the
/// replica took to converge if it settled at this sample.
fn observe(status: &Value, memory: &mut ViewChanges, now: Instant) -> Option<Duration> {
    let view = status["view"].as_u64();
    let resets = status["counters"]["ve_resets"].as_u64();
    let changed_view =
        matches!((memory.view, view), (Some(before), Some(after)) if before != after);
    if changed_view {
        memory.seen += 1;
    }
    let reset = matches!((memory.resets, resets), (Some(before), Some(after)) if after > before);
    memory.view = view.or(memory.view);
    memory.resets = resets.or(memory.resets);
    let settled = view.is_some() && status["allow_service"] == true;
    if !settled || changed_view || reset {
        // A change seen only now began at most one interval ago.
        memory
            .unsettled_since
            .get_or_insert(now.checked_sub(SAMPLE_INTERVAL).unwrap_or(now));
    }
    if settled {
        return memory
            .unsettled_since
            .take()
            .map(|since| now.saturating_duration_since(since));
    }
    None
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

    fn sample(view: Option<u64>, allow: bool, resets: u64) -> Value {
        serde_json::json!({"view": view, "allow_service": allow, "counters": {"ve_resets": resets}})
    }

    #[test]
    fn convergence_runs_from_the_first_unsettled_sample_to_service_again() {
        let mut memory = ViewChanges::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(observe(&sample(Some(0), true, 0), &mut memory, at(0)), None);
        // The primary is replaced: no view, then view 1 without service, then service.
        assert_eq!(
            observe(&sample(None, false, 0), &mut memory, at(1000)),
            None
        );
        assert_eq!(
            observe(&sample(Some(1), false, 0), &mut memory, at(1250)),
            None
        );
        let took = observe(&sample(Some(1), true, 0), &mut memory, at(2500)).unwrap();
        // From one interval before the first unsettled sample (750 ms) to 2500 ms.
        assert_eq!(took, Duration::from_millis(1750));
        assert_eq!(
            observe(&sample(Some(1), true, 0), &mut memory, at(2750)),
            None
        );
        // A reset that settles between two samples counts as one interval.
        let took = observe(&sample(Some(1), true, 1), &mut memory, at(3000)).unwrap();
        assert_eq!(took, SAMPLE_INTERVAL);
        // So does a view change seen only as a new view number.
        let took = observe(&sample(Some(2), true, 1), &mut memory, at(3250)).unwrap();
        assert_eq!(took, SAMPLE_INTERVAL);
        assert_eq!(memory.seen, 2);
    }
    use crate::service_api::NodeFacts;
    use skein_core::NodeId;

    #[test]
    fn a_view_change_is_counted_and_the_status_published() {
        let mut memory = ViewChanges::default();
        let now = Instant::now();
        for view in [0, 0, 1, 1, 2] {
            observe(&serde_json::json!({"view": view}), &mut memory, now);
        }
        observe(&serde_json::json!({"view": null}), &mut memory, now);
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
            client_auth: Default::default(),
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
