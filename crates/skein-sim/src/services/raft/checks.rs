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
    let configs = node
        .log_view()
        .entries()
        .iter()
        .filter_map(|entry| match &entry.payload {
            Payload::Config(m) => Some((entry.index, m)),
            _ => None,
        });
    adjacent_configs_one_voter_apart(configs).map_err(|why| format!("node {}: {why}", node.id()))
}

/// The rule of [`config_changes_one_voter_at_a_time`] over configurations
/// in log order, each with its index.
pub fn adjacent_configs_one_voter_apart<'a>(
    configs: impl IntoIterator<Item = (u64, &'a Membership)>,
) -> Result<(), String> {
    let mut previous: Option<(u64, &Membership)> = None;
    for (index, next) in configs {
        if let Some((at, before)) = previous {
            let changed = before.voters.symmetric_difference(&next.voters).count();
            if changed > 1 {
                return Err(format!(
                    "configuration at {index} changes {changed} voters from the one at {at}: \
                     {:?} -> {:?}",
                    before.voters, next.voters
                ));
            }
        }
        previous = Some((index, next));
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

#[cfg(test)]
mod tests {
    use super::*;
    use skein_core::NodeId;

    fn voters(ids: &[u16]) -> Membership {
        Membership::with_voters(ids.iter().map(|&i| NodeId(i)))
    }

    #[test]
    fn configurations_may_change_one_voter_per_entry_only() {
        let (five, four, back) = (
            voters(&[1, 2, 3, 4, 5]),
            voters(&[1, 2, 4, 5]),
            voters(&[1, 2, 3, 4, 5]),
        );
        let mut learner = four.clone();
        learner.learners.insert(NodeId(3));
        let steps = [(3, &five), (7, &four), (9, &learner), (12, &back)];
        assert!(adjacent_configs_one_voter_apart(steps).is_ok());
        let swapped = voters(&[1, 2, 3, 4, 6]);
        let err = adjacent_configs_one_voter_apart([(3, &four), (8, &swapped)]).unwrap_err();
        assert!(err.contains("changes 3 voters from the one at 3"), "{err}");
        let two_at_once = voters(&[1, 2, 3]);
        assert!(adjacent_configs_one_voter_apart([(3, &five), (4, &two_at_once)]).is_err());
    }
}
