//! Raft's cross-node invariants, run after every step at a cost that does
//! not grow with the run. They are `skein_raft::checks` arranged for a
//! simulator that knows which node just stepped: only that node's state
//! changed, so only it is fed to [`History::observe`] (which remembers every
//! node's leaders, committed entries and applied digests across steps and
//! crashes), and log matching compares it with each other node over the
//! entries both still hold (not from index 1, which is what made the
//! all-pairs check grow with the log). Membership changes go one voter at a
//! time ([`config_changes_one_voter_at_a_time`]).

use skein_raft::checks::{election_safety, state_machine_safety, History};
use skein_raft::{Membership, Payload, Raft};

/// Single-server changes (thesis §4.1): any two configurations adjacent in
/// a node's log differ by at most one voter, so every quorum of one meets
/// every quorum of the other. The log is compacted every few dozen entries,
/// so this stays cheap.
pub fn config_changes_one_voter_at_a_time(node: &Raft) -> Result<(), String> {
    let mut previous: Option<(u64, &Membership)> = None;
    for entry in node.log_view().entries() {
        let Payload::Config(next) = &entry.payload else {
            continue;
        };
        if let Some((at, before)) = previous {
            let changed = before.voters.symmetric_difference(&next.voters).count();
            if changed > 1 {
                return Err(format!(
                    "node {}: configuration at {} changes {changed} voters from the one at {at}: \
                     {:?} -> {:?}",
                    node.id(),
                    entry.index,
                    before.voters,
                    next.voters
                ));
            }
        }
        previous = Some((entry.index, next));
    }
    Ok(())
}

/// Log matching (Raft Figure 3) between two nodes: if they hold an entry
/// with the same index and term, they agree on every entry up to it.
pub fn log_matching_pair(a: &Raft, b: &Raft) -> Result<(), String> {
    let (la, lb) = (a.log_view(), b.log_view());
    let low = la.snapshot_last().index.max(lb.snapshot_last().index);
    let high = la.last_index().min(lb.last_index());
    let Some(anchor) = (low..=high)
        .rev()
        .find(|&i| la.term_at(i).is_some() && la.term_at(i) == lb.term_at(i))
    else {
        return Ok(());
    };
    for i in low + 1..=anchor {
        if let (Some(x), Some(y)) = (la.entry(i), lb.entry(i)) {
            if x != y {
                return Err(format!(
                    "log matching: nodes {} and {} agree at {anchor} but differ at {i}: {x:?} vs {y:?}",
                    a.id(),
                    b.id()
                ));
            }
        }
    }
    Ok(())
}

/// Every invariant, after `stepped` (an index into `nodes`) took a step.
pub fn after_step(history: &mut History, nodes: &[&Raft], stepped: usize) -> Result<(), String> {
    election_safety(nodes)?;
    state_machine_safety(nodes)?;
    let me = nodes[stepped];
    config_changes_one_voter_at_a_time(me)?;
    for (k, other) in nodes.iter().enumerate() {
        if k != stepped {
            log_matching_pair(me, other)?;
        }
    }
    history.observe(&[me])
}
