//! Each fault kind observably happens: scripted faults at fixed times, and
//! observations made by checks that run after every event.

use skein_core::heartbeat::Heartbeat;
use skein_core::heartbeat::HeartbeatConfig;
use skein_core::{NodeId, Protocol};
use skein_sim::byzantine::ByzantineSpec;
use skein_sim::check::{check_fn, ClusterView};
use skein_sim::fault::{FaultAction, ScheduledFault};
use skein_sim::net::{LinkConfig, Partition};
use skein_sim::services::heartbeat::EchoWorkload;
use skein_sim::services::{self, RunOptions};
use skein_sim::{FaultSet, SimConfig, SimStats, Simulation};
use std::cell::RefCell;
use std::rc::Rc;

/// What one node (instance) looked like at one time.
#[derive(Clone, Debug)]
struct Seen {
    at_ms: u64,
    id: NodeId,
    instance: usize,
    up: Vec<NodeId>,
    incarnation: u64,
    repairs: u64,
    local_ms: u64,
}

/// Runs 5 heartbeat nodes for 30 virtual seconds with `schedule`, sampling
/// every node every virtual 100 ms.
fn run(schedule: Vec<ScheduledFault>, byzantine: Vec<ByzantineSpec>) -> (SimStats, Vec<Seen>) {
    let mut cfg = SimConfig::new(11, 5);
    cfg.steps_max = 40_000;
    cfg.schedule = schedule;
    cfg.byzantine = byzantine;
    cfg.nemesis.quiet_after_percent = 100; // only the scripted faults
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let mut next_sample_ms = 0;
    let sampler = check_fn("sampler", move |view: &ClusterView<'_, Heartbeat>| {
        let now_ms = view.now_us() / 1_000;
        if now_ms >= next_sample_ms {
            next_sample_ms = now_ms + 100;
            for n in view.nodes() {
                log.borrow_mut().push(Seen {
                    at_ms: now_ms,
                    id: n.id,
                    instance: n.instance,
                    up: n.core.up_peers(),
                    incarnation: n.core.incarnation(),
                    repairs: n.core.status().repairs,
                    local_ms: n.local_now.as_millis() as u64,
                });
            }
        }
        Ok(())
    });
    let outcome = Simulation::new(cfg, HeartbeatConfig::default(), EchoWorkload::default())
        .unwrap()
        .invariant(sampler)
        .run()
        .unwrap();
    assert!(
        outcome.virtual_us > 25_000_000,
        "ran only {} µs",
        outcome.virtual_us
    );
    let seen = seen.borrow().clone();
    (outcome.stats, seen)
}

fn at(seen: &[Seen], ms: u64, id: u16) -> Vec<Seen> {
    let t = seen
        .iter()
        .map(|s| s.at_ms)
        .filter(|&t| t >= ms)
        .min()
        .expect("sampled");
    seen.iter()
        .filter(|s| s.at_ms == t && s.id == NodeId(id))
        .cloned()
        .collect()
}

fn one(seen: &[Seen], ms: u64, id: u16) -> Seen {
    at(seen, ms, id).remove(0)
}

#[test]
fn a_partition_cuts_a_node_off_until_healed() {
    let isolate = Partition::split(
        "isolate-1",
        &[vec![NodeId(1)], (2..=5).map(NodeId).collect()],
    );
    let (stats, seen) = run(
        vec![
            ScheduledFault::at(5_000, FaultAction::Partition(isolate)),
            ScheduledFault::at(10_000, FaultAction::Heal),
        ],
        vec![],
    );
    assert!(stats.messages_dropped["partition"] > 0);
    assert!(one(&seen, 4_900, 2).up.contains(&NodeId(1)));
    assert!(!one(&seen, 9_000, 2).up.contains(&NodeId(1)));
    assert!(one(&seen, 9_000, 1).up.is_empty());
    assert!(one(&seen, 14_000, 2).up.contains(&NodeId(1)));
}

#[test]
fn a_one_way_partition_makes_a_node_deaf_but_not_mute() {
    let others: Vec<NodeId> = (2..=5).map(NodeId).collect();
    let deaf = Partition::one_way("deaf-1", &others, &[NodeId(1)]);
    let (_, seen) = run(
        vec![ScheduledFault::at(5_000, FaultAction::Partition(deaf))],
        vec![],
    );
    assert!(
        one(&seen, 9_000, 1).up.is_empty(),
        "node 1 still hears peers"
    );
    assert!(
        one(&seen, 9_000, 2).up.contains(&NodeId(1)),
        "peers stopped hearing node 1"
    );
}

#[test]
fn a_crashed_node_is_down_and_restarts_from_its_disk() {
    let (stats, seen) = run(
        vec![
            ScheduledFault::at(5_000, FaultAction::Crash(NodeId(3))),
            ScheduledFault::at(10_000, FaultAction::Restart(NodeId(3))),
        ],
        vec![],
    );
    assert_eq!(stats.faults["crash"], 1);
    assert!(at(&seen, 7_000, 3).is_empty(), "crashed node still running");
    assert!(!one(&seen, 9_000, 1).up.contains(&NodeId(3)));
    // The incarnation persisted at the first boot survived: the restart is the second.
    assert_eq!(one(&seen, 4_000, 3).incarnation, 1);
    assert_eq!(one(&seen, 12_000, 3).incarnation, 2);
    assert!(one(&seen, 14_000, 1).up.contains(&NodeId(3)));
}

#[test]
fn crashes_lose_and_tear_unsynced_writes() {
    // The register persists on every store; crash often and some writes are in flight.
    let mut opts = RunOptions::new("register");
    opts.steps = 30_000;
    opts.faults = FaultSet::of(&[skein_sim::FaultKind::Crashes]);
    let mut lost = 0;
    let mut torn = 0;
    for seed in 0..20 {
        let r = services::run(&opts.with_seed(seed), None).unwrap();
        assert!(r.passed(), "{r}");
        lost += r.stats.disk_writes_lost;
        torn += r.stats.disk_writes_torn;
    }
    assert!(lost > 0 && torn > 0, "lost {lost}, torn {torn}");
}

#[test]
fn a_paused_node_holds_its_events_and_catches_up() {
    let (stats, seen) = run(
        vec![
            ScheduledFault::at(5_000, FaultAction::Pause(NodeId(2))),
            ScheduledFault::at(10_000, FaultAction::Resume(NodeId(2))),
        ],
        vec![],
    );
    assert!(stats.events_held > 0);
    assert!(
        !one(&seen, 9_000, 1).up.contains(&NodeId(2)),
        "a paused node must look dead"
    );
    assert!(one(&seen, 14_000, 1).up.contains(&NodeId(2)));
}

#[test]
fn clock_drift_makes_a_node_clock_run_fast() {
    let (_, seen) = run(
        vec![ScheduledFault::at(
            1_000,
            FaultAction::Drift {
                node: NodeId(4),
                ppm: 100_000,
            },
        )],
        vec![],
    );
    let (fast, normal) = (one(&seen, 21_000, 4), one(&seen, 21_000, 5));
    let ratio = (fast.local_ms - 1_000) as f64 / (normal.local_ms - 1_000) as f64;
    assert!((1.09..1.11).contains(&ratio), "ratio {ratio}");
}

#[test]
fn corruption_is_injected_and_repaired() {
    let (stats, seen) = run(
        vec![ScheduledFault::at(5_000, FaultAction::Corrupt(NodeId(1)))],
        vec![],
    );
    assert_eq!(stats.faults["corrupt"], 1);
    assert_eq!(stats.corruptions_unsupported, 0);
    assert!(
        one(&seen, 6_000, 1).repairs > 0,
        "heartbeat never noticed the corruption"
    );
}

#[test]
fn a_chaotic_network_loses_duplicates_and_reorders() {
    let (stats, _) = run(
        vec![ScheduledFault::at(
            0,
            FaultAction::Network(Some(LinkConfig::chaotic())),
        )],
        vec![],
    );
    assert!(stats.messages_dropped["loss"] > 0);
    assert!(
        stats
            .messages_dropped
            .get("connection-broken")
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(stats.messages_duplicated > 0);
    assert!(stats.messages_reordered > 0);
}

#[test]
fn a_silent_node_looks_dead_and_crash_after_k_dies_later() {
    let byz = vec![
        ByzantineSpec::new(1, "silent"),
        ByzantineSpec::new(2, "crash-after-k=40"),
    ];
    let (_, seen) = run(vec![], byz);
    let view = one(&seen, 3_000, 3).up;
    assert!(
        !view.contains(&NodeId(1)) && view.contains(&NodeId(2)),
        "{view:?}"
    );
    assert!(!one(&seen, 25_000, 3).up.contains(&NodeId(2)));
}

#[test]
fn half_peers_is_up_for_some_and_down_for_others() {
    let (_, seen) = run(vec![], vec![ByzantineSpec::new(5, "half-peers")]);
    let seeing: usize = (1..=4)
        .filter(|&id| one(&seen, 10_000, id).up.contains(&NodeId(5)))
        .count();
    assert_eq!(seeing, 2);
}

#[test]
fn replay_and_random_inject_messages_of_their_own() {
    for behaviour in ["replay", "random"] {
        let (stats, _) = run(vec![], vec![ByzantineSpec::new(1, behaviour)]);
        assert!(
            stats.byzantine_injected > 10,
            "{behaviour}: {}",
            stats.byzantine_injected
        );
    }
}

#[test]
fn twins_are_two_instances_each_seen_by_a_different_half() {
    let (stats, seen) = run(vec![], vec![ByzantineSpec::new(3, "twins")]);
    let twins = at(&seen, 10_000, 3);
    assert_eq!(twins.len(), 2, "expected two instances of node 3");
    assert_ne!(twins[0].instance, twins[1].instance);
    let (a, b) = (&twins[0].up, &twins[1].up);
    assert_eq!(a.len() + b.len(), 4, "{a:?} {b:?}");
    assert!(
        a.iter().all(|p| !b.contains(p)),
        "sides overlap: {a:?} {b:?}"
    );
    assert!(stats.messages_dropped["twins-other-side"] > 0);
    // Every honest node still sees "node 3" up: each through its own twin.
    assert!((1..=5)
        .filter(|&i| i != 3)
        .all(|i| one(&seen, 10_000, i).up.contains(&NodeId(3))));
}
