//! The gossip checks: bounded buffers and exactly-once delivery (what the
//! application sees, across restarts) after every step; membership convergence and full broadcast coverage once quiet.

use crate::check::{check_fn, Check, ClusterView};
use skein_gossip::floors::FLOORS_MAX;
use skein_gossip::message::MessageId;
use skein_gossip::plumtree::MISSING_MAX;
use skein_gossip::{Gossip, GossipConfig, MemberState};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A broadcast is judged if it began this long after the overlay settled
/// (quiet + half the liveness bound) and this long before the deadline.
const SETTLE_US: u64 = 4_000_000;
const SPREAD_US: u64 = 1_500_000;

/// One instance: its current life, and every id the application saw in any life.
#[derive(Default)]
pub struct Life {
    life: u64,
    /// Restarts seen so far (0 in the first life).
    restarts: u32,
    last_seq: u64,
    /// Each id the application saw, with the life (restart count) it was shown in.
    ids: BTreeMap<MessageId, u32>,
}

/// Shared between the per-step invariant and the final liveness check.
#[derive(Default)]
pub struct Tracker {
    lives: BTreeMap<usize, Life>,
    /// Simulated time each message was first delivered anywhere.
    first_seen_us: BTreeMap<MessageId, u64>,
}

pub fn bounded_memory(config: GossipConfig) -> Box<dyn Check<Gossip>> {
    check_fn(
        "gossip buffers bounded after every step",
        move |view: &ClusterView<'_, Gossip>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let core = node.core;
            let t = core.plumtree();
            let over = [
                ("members", core.membership().len(), config.members_max),
                (
                    "bindings",
                    core.membership().bindings().len(),
                    core.membership().bindings_max(),
                ),
                (
                    "pending updates",
                    core.pending_updates(),
                    config.members_max + 1,
                ),
                ("seen ids", t.seen_len(), config.seen_max),
                ("origin floors", t.floors().len(), FLOORS_MAX),
                ("stored messages", t.stored_len(), config.messages_max),
                ("missing ids", t.missing_len(), MISSING_MAX),
                ("traces", core.traces().len(), config.traces_max),
            ]
            .into_iter()
            .find(|(_, len, max)| len > max);
            match over {
                Some((what, len, max)) => {
                    Err(format!("node {} holds {len} {what}, over {max}", node.id))
                }
                None => Ok(()),
            }
        },
    )
}

pub fn exactly_once(tracker: Rc<RefCell<Tracker>>) -> Box<dyn Check<Gossip>> {
    check_fn(
        "each message shown to the application at most once per node, across restarts",
        move |view: &ClusterView<'_, Gossip>| {
            let Some(node) = view.stepped() else {
                return Ok(());
            };
            let mut tracker = tracker.borrow_mut();
            let Tracker {
                lives,
                first_seen_us,
            } = &mut *tracker;
            let life = lives.entry(node.instance).or_default();
            if life.life != node.core.life() {
                // A restart: sequence numbers start over from what was
                // durable, but the ids the application saw stay: none of
                // them may be shown to it again.
                if life.life != 0 {
                    life.restarts += 1;
                }
                life.life = node.core.life();
                life.last_seq = 0;
            }
            let fresh: Vec<(u64, MessageId)> = node
                .core
                .plumtree()
                .visible_after(life.last_seq, usize::MAX)
                .map(|s| (s.seq, s.message.id))
                .collect();
            for (seq, id) in fresh {
                if let Some(first) = life.ids.insert(id, life.restarts) {
                    return Err(format!(
                        "node {} delivered {id} twice (seq {seq}; first in life {first}, again in life {})",
                        node.id, life.restarts
                    ));
                }
                first_seen_us.entry(id).or_insert(view.now_us());
                life.last_seq = seq;
            }
            Ok(())
        },
    )
}

pub fn membership_converges() -> Box<dyn Check<Gossip>> {
    check_fn(
        "liveness: every running node sees every other alive",
        |view: &ClusterView<'_, Gossip>| {
            let running: Vec<_> = view.honest().map(|n| n.id).collect();
            for node in view.honest() {
                let wrong: Vec<String> = running
                    .iter()
                    .filter(|id| **id != node.id)
                    .filter_map(|id| match node.core.state_of(*id) {
                        Some(MemberState::Alive) => None,
                        other => Some(format!("{id}:{other:?}")),
                    })
                    .collect();
                if !wrong.is_empty() {
                    return Err(format!("node {} sees {}", node.id, wrong.join(" ")));
                }
            }
            Ok(())
        },
    )
}

pub fn broadcasts_reach_everyone(
    tracker: Rc<RefCell<Tracker>>,
    expect_some: bool,
) -> Box<dyn Check<Gossip>> {
    check_fn(
        "liveness: broadcasts after the overlay settled reach every running node",
        move |view: &ClusterView<'_, Gossip>| {
            let quiet = view.quiet_at_us().ok_or("the faults never stopped")?;
            let tracker = tracker.borrow();
            let window = (quiet + SETTLE_US)..view.now_us().saturating_sub(SPREAD_US);
            let judged: Vec<MessageId> = tracker
                .first_seen_us
                .iter()
                .filter(|(_, at)| window.contains(at))
                .map(|(id, _)| *id)
                .collect();
            if judged.is_empty() && expect_some {
                return Err("no broadcast was made after the overlay settled".into());
            }
            for node in view.honest() {
                let life = tracker.lives.get(&node.instance);
                let missed: Vec<String> = judged
                    .iter()
                    .filter(|id| !life.is_some_and(|l| l.ids.contains_key(id)))
                    .map(ToString::to_string)
                    .collect();
                if !missed.is_empty() {
                    return Err(format!(
                        "node {} missed {} of {} broadcasts: {}",
                        node.id,
                        missed.len(),
                        judged.len(),
                        missed.join(" ")
                    ));
                }
            }
            Ok(())
        },
    )
}
