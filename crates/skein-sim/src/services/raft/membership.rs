//! The membership driver: one dedicated client that, while faults run,
//! removes a voter, re-adds it as a learner and promotes it again, over and
//! over, one change at a time.
//!
//! ```text
//!   rest (KV ops) ─▶ Remove(t) ─▶ AddLearner(t, sim:t) ─▶ Promote(t) ─▶ rest ...
//!                      ▲ retried until a reply shows the step's goal reached
//! ```
//!
//! The driver is a closed-loop client, so at most one of its changes is open
//! at a time, and a step is issued again until acknowledged. A step is
//! judged by the configuration a reply shows, not by the request: an attempt
//! that timed out may still have committed, and the retry then finds the
//! goal already reached (`UnknownNode` for a removal, the current
//! configuration for an `AddLearner` of a member).

use super::model::{MemberChange, RaftOutput};
use crate::workload::{Outcome, ReplyFrom};
use rand::{Rng, RngCore};
use skein_core::{NodeId, PeerAddress};
use skein_raft::{Membership, RaftError, Reply, Request};

/// KV operations the driver client issues between two cycles, at least and
/// at most: changes come "every so often", not back to back.
pub const REST_OPS_MIN: u32 = 30;
pub const REST_OPS_MAX: u32 = 90;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Remove,
    AddLearner,
    Promote,
}

#[derive(Clone, Debug)]
pub struct MembershipDriver {
    nodes: u16,
    /// The node of the cycle under way (`None`: resting).
    target: Option<NodeId>,
    phase: Phase,
    /// KV operations left before the next cycle (`None`: not drawn yet).
    rest_ops: Option<u32>,
    /// Steps whose goal a reply showed reached (removals, additions, promotions).
    changes_completed: u64,
}

impl MembershipDriver {
    /// A driver for a cluster of members `1..=nodes`.
    pub fn new(nodes: u16) -> Self {
        Self {
            nodes,
            target: None,
            phase: Phase::Remove,
            rest_ops: None,
            changes_completed: 0,
        }
    }

    pub fn changes_completed(&self) -> u64 {
        self.changes_completed
    }

    /// The next change to ask for, or `None` if the driver client should
    /// issue a KV operation this time.
    pub fn next_change(&mut self, rng: &mut dyn RngCore) -> Option<MemberChange> {
        let target = match self.target {
            Some(target) => target,
            None if self.rest_ops != Some(0) => {
                let left = self
                    .rest_ops
                    .unwrap_or_else(|| rng.random_range(REST_OPS_MIN..=REST_OPS_MAX));
                self.rest_ops = Some(left - 1);
                return None;
            }
            None => {
                self.rest_ops = None;
                let target = NodeId(rng.random_range(1..=self.nodes));
                self.target = Some(target);
                self.phase = Phase::Remove;
                target
            }
        };
        Some(self.change(target))
    }

    fn change(&self, target: NodeId) -> MemberChange {
        match self.phase {
            Phase::Remove => MemberChange::Remove(target),
            Phase::AddLearner => MemberChange::AddLearner(target),
            Phase::Promote => MemberChange::Promote(target),
        }
    }

    /// Reads a reply to `change` and moves the cycle on if it shows the
    /// step's goal reached.
    pub fn outcome(
        &mut self,
        from: ReplyFrom,
        change: MemberChange,
        reply: &Reply,
    ) -> Outcome<RaftOutput> {
        let current = self.target.map(|t| self.change(t)) == Some(change);
        match reply {
            Reply::NotLeader { leader } => Outcome::Retry(*leader),
            // Nothing was done; the same leader may accept it shortly.
            Reply::Error(
                RaftError::ConfigChangeInProgress
                | RaftError::NotCaughtUp { .. }
                | RaftError::TransferInProgress
                | RaftError::Overloaded { .. },
            ) => Outcome::Retry(Some(from.node)),
            Reply::Error(RaftError::LeadershipLost) => Outcome::Unknown,
            Reply::Error(RaftError::UnknownNode { .. }) => {
                // Removal: already removed. Promotion: not a learner (any
                // more, or the addition was lost): `AddLearner` finds out.
                if current {
                    self.reached(self.phase == Phase::Remove, Phase::AddLearner);
                }
                Outcome::Fail
            }
            Reply::Error(_) => Outcome::Fail,
            Reply::Membership { membership, .. } => {
                if current {
                    self.observe(change.target(), membership);
                }
                Outcome::Ok(RaftOutput::Member)
            }
            _ => Outcome::Ok(RaftOutput::MemberUnexpected),
        }
    }

    /// Where the cycle stands, given a configuration the leader reported.
    fn observe(&mut self, target: NodeId, m: &Membership) {
        let absent = !m.contains(target);
        match self.phase {
            Phase::Remove if absent => self.reached(true, Phase::AddLearner),
            Phase::Remove => {}
            _ if m.is_voter(target) => {
                self.changes_completed += 1;
                self.target = None;
            }
            _ if absent => self.phase = Phase::AddLearner,
            _ => self.reached(self.phase == Phase::AddLearner, Phase::Promote),
        }
    }

    fn reached(&mut self, completed: bool, next: Phase) {
        self.changes_completed += u64::from(completed);
        self.phase = next;
    }
}

/// The request for `change`; a re-added node is dialled at its simulator address.
pub fn request(change: MemberChange) -> Request {
    match change {
        MemberChange::Remove(id) => Request::RemoveMember { id },
        MemberChange::AddLearner(id) => Request::AddLearner {
            id,
            address: Some(PeerAddress(format!("sim:{}", id.0))),
        },
        MemberChange::Promote(id) => Request::Promote { id },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const FROM: ReplyFrom = ReplyFrom {
        op: 0,
        node: NodeId(1),
    };

    fn config(voters: impl IntoIterator<Item = u16>, learners: &[u16]) -> Reply {
        let mut membership = Membership::with_voters(voters.into_iter().map(NodeId));
        membership.learners = learners.iter().map(|&i| NodeId(i)).collect();
        Reply::Membership {
            membership,
            index: 9,
        }
    }

    /// Rests with KV operations, then starts a cycle: its first change.
    fn first_change(driver: &mut MembershipDriver, rng: &mut ChaCha8Rng) -> MemberChange {
        let mut rested = 0;
        loop {
            match driver.next_change(rng) {
                Some(change) => {
                    assert!((REST_OPS_MIN..=REST_OPS_MAX).contains(&rested), "{rested}");
                    return change;
                }
                None => rested += 1,
            }
        }
    }

    #[test]
    fn a_cycle_is_retried_until_each_goal_shows_reached() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut driver = MembershipDriver::new(5);
        let remove = first_change(&mut driver, &mut rng);
        let t = remove.target();
        assert_eq!(remove, MemberChange::Remove(t));
        let others: Vec<u16> = (1..=5).filter(|&i| i != t.0).collect();
        let redirect = Reply::NotLeader {
            leader: Some(NodeId(2)),
        };
        assert_eq!(
            driver.outcome(FROM, remove, &redirect),
            Outcome::Retry(Some(NodeId(2)))
        );
        assert_eq!(
            driver.next_change(&mut rng),
            Some(remove),
            "not acknowledged"
        );
        let removed = config(others.clone(), &[]);
        assert_eq!(
            driver.outcome(FROM, remove, &removed),
            Outcome::Ok(RaftOutput::Member)
        );
        let add = MemberChange::AddLearner(t);
        assert_eq!(driver.next_change(&mut rng), Some(add));
        driver.outcome(FROM, add, &config(others.clone(), &[t.0]));
        let promote = MemberChange::Promote(t);
        assert_eq!(driver.next_change(&mut rng), Some(promote));
        let behind = Reply::Error(RaftError::NotCaughtUp { id: t });
        assert_eq!(
            driver.outcome(FROM, promote, &behind),
            Outcome::Retry(Some(FROM.node))
        );
        // The learner is gone (say a leader's change was truncated): add it again.
        let gone = Reply::Error(RaftError::UnknownNode { id: t });
        assert_eq!(driver.outcome(FROM, promote, &gone), Outcome::Fail);
        assert_eq!(driver.next_change(&mut rng), Some(add));
        // That add finds the node a voter already: the cycle is over.
        driver.outcome(FROM, add, &config(1..=5, &[]));
        assert_eq!(driver.changes_completed(), 3);
        assert_eq!(driver.next_change(&mut rng), None, "rests again");
    }

    #[test]
    fn a_removal_whose_acknowledgement_was_lost_is_not_repeated() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut driver = MembershipDriver::new(5);
        let remove = first_change(&mut driver, &mut rng);
        let gone = Reply::Error(RaftError::UnknownNode {
            id: remove.target(),
        });
        assert_eq!(driver.outcome(FROM, remove, &gone), Outcome::Fail);
        assert_eq!(
            driver.next_change(&mut rng),
            Some(MemberChange::AddLearner(remove.target()))
        );
        assert_eq!(driver.changes_completed(), 1);
        let wrong = Reply::Written { revision: 4 };
        assert_eq!(
            driver.outcome(FROM, remove, &wrong),
            Outcome::Ok(RaftOutput::MemberUnexpected)
        );
    }
}
