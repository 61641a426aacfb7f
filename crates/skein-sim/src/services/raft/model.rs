//! The raft service's sequential model: the compare-and-set key-value store
//! ([`CasKvModel`]) plus membership changes, which change no key. A change
//! goes to a partition of its own where every answer is acceptable, so it
//! never constrains (or widens) the search over the key partitions.

use crate::lin::{CasKvInput, CasKvModel, CasKvOutput, Model};
use skein_core::NodeId;

/// The partition membership changes are checked in: no key is this large
/// (`KEYS` is a handful).
pub const MEMBERSHIP_PARTITION: u64 = u64::MAX;

/// One step of the membership driver's remove / re-add / promote cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberChange {
    Remove(NodeId),
    AddLearner(NodeId),
    Promote(NodeId),
}

impl MemberChange {
    pub fn target(self) -> NodeId {
        match self {
            MemberChange::Remove(id) | MemberChange::AddLearner(id) | MemberChange::Promote(id) => {
                id
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaftInput {
    Kv(CasKvInput),
    Member(MemberChange),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaftOutput {
    Kv(CasKvOutput),
    /// A membership change was acknowledged (its configuration committed).
    Member,
    /// A reply of the wrong kind to a membership change; no correct node gives it.
    MemberUnexpected,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RaftKvModel;

impl Model for RaftKvModel {
    type State = Option<u64>;
    type Input = RaftInput;
    type Output = RaftOutput;

    fn init(&self) -> Option<u64> {
        CasKvModel.init()
    }

    fn apply(&self, state: &Option<u64>, input: &RaftInput) -> (Option<u64>, RaftOutput) {
        match input {
            RaftInput::Kv(kv) => {
                let (next, out) = CasKvModel.apply(state, kv);
                (next, RaftOutput::Kv(out))
            }
            RaftInput::Member(_) => (*state, RaftOutput::Member),
        }
    }

    fn partition(&self, input: &RaftInput) -> u64 {
        match input {
            RaftInput::Kv(kv) => CasKvModel.partition(kv),
            RaftInput::Member(_) => MEMBERSHIP_PARTITION,
        }
    }

    fn is_read_only(&self, input: &RaftInput) -> bool {
        match input {
            RaftInput::Kv(kv) => CasKvModel.is_read_only(kv),
            RaftInput::Member(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lin::{check, CheckLimits, Operation};

    #[test]
    fn membership_changes_never_affect_keys() {
        let change = RaftInput::Member(MemberChange::Remove(NodeId(2)));
        let ops = vec![
            Operation::ok(
                0,
                RaftInput::Kv(CasKvInput::Put(0, 7)),
                RaftOutput::Kv(CasKvOutput::Ok),
                0,
                1,
            ),
            Operation::ok(1, change, RaftOutput::Member, 2, 3),
            Operation::ok(
                0,
                RaftInput::Kv(CasKvInput::Get(0)),
                RaftOutput::Kv(CasKvOutput::Value(Some(7))),
                4,
                5,
            ),
        ];
        assert!(check(&RaftKvModel, &ops, CheckLimits::default()).is_linearizable());
        let mut wrong = ops.clone();
        wrong[1] = Operation::ok(1, change, RaftOutput::MemberUnexpected, 2, 3);
        assert!(!check(&RaftKvModel, &wrong, CheckLimits::default()).is_linearizable());
        let mut stale = ops;
        stale[2] = Operation::ok(
            0,
            RaftInput::Kv(CasKvInput::Get(0)),
            RaftOutput::Kv(CasKvOutput::Value(None)),
            4,
            5,
        );
        assert!(!check(&RaftKvModel, &stale, CheckLimits::default()).is_linearizable());
    }
}
